/* vfs_selftest.c - the power-loss VFS (crashvfs.c) leaves exactly what it
 * promises: the synced data plus a subset of the unsynced sectors.
 *
 * Each case runs a child (this program again, with BOXOFFICE_TEST_POWERLOSS=1
 * so that crashvfs.c is the default VFS) that writes through the VFS in a
 * known pattern, syncs, writes more, and sends itself SIGUSR2. The parent
 * checks that the child ended with the power-cut exit code and that every
 * sector of the file is what a power cut may leave:
 *  - sectors not written since the sync hold the synced bytes;
 *  - a sector written since holds its synced bytes (lost), its new bytes
 *    (kept) or, in mode "tear", new bytes up to some offset and synced bytes
 *    after it; beyond the synced size anything may be there;
 *  - the size is the synced size in mode "drop", else between the synced and
 *    the written size;
 *  - over many seeds, mode "subset" both keeps and loses sectors, "tear"
 *    tears some, and "drop" never keeps one;
 *  - a WAL file created and never synced vanishes; one synced once stays;
 *    the database's -shm file is removed.
 * The last line is "N passed, M failed"; the children's power-cut summaries
 * go to stderr. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
	ST_SECTOR = 512,
	ST_OLD = 40,      /* sectors on disk before the child starts: 'S' */
	ST_SYNCED = 20,   /* sectors 0..19 rewritten 'A', then synced */
	ST_NEW_FROM = 10, /* then 10..59 written 'B' without a sync */
	ST_NEW_TO = 60,
	ST_SEEDS = 12,
	ST_CUT_EXIT = 86, /* crashvfs.c: CRASHVFS_EXIT_CODE */
};

static const char *st_self;
static int st_passed, st_failed;

static void st_result(const char *name, const char *problem)
{
	if (problem == NULL) {
		st_passed++;
		printf("ok - %s\n", name);
	} else {
		st_failed++;
		printf("FAIL - %s: %s\n", name, problem);
	}
	fflush(stdout);
}

static void st_fill(unsigned char *buf, unsigned char c, size_t n)
{
	memset(buf, c, n);
}

/* ---- the child: writes through the VFS, then cuts the power ---- */

static int st_write(sqlite3_file *f, unsigned char c, int from, int to)
{
	unsigned char buf[ST_SECTOR];

	st_fill(buf, c, sizeof(buf));
	for (int i = from; i < to; i++)
		if (f->pMethods->xWrite(f, buf, ST_SECTOR, (sqlite3_int64)i * ST_SECTOR) !=
		    SQLITE_OK)
			return -1;
	return 0;
}

/* A file name as SQLite hands it to a VFS: followed by an empty list of
 * URI parameters (two more NULs). */
static char *st_name(const char *s)
{
	char *n = calloc(1, strlen(s) + 3);

	if (n != NULL)
		memcpy(n, s, strlen(s));
	return n;
}

static int st_child(const char *path_arg, const char *wal_unsynced_arg, const char *wal_synced_arg)
{
	char *path = st_name(path_arg), *wal_unsynced = st_name(wal_unsynced_arg);
	char *wal_synced = st_name(wal_synced_arg);
	sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int out;

	if (vfs == NULL || strcmp(vfs->zName, "crashvfs") != 0) {
		fprintf(stderr, "child: crashvfs is not the default VFS\n");
		return 1;
	}
	sqlite3_file *db = calloc(1, (size_t)vfs->szOsFile);
	sqlite3_file *w1 = calloc(1, (size_t)vfs->szOsFile);
	sqlite3_file *w2 = calloc(1, (size_t)vfs->szOsFile);
	if (db == NULL || w1 == NULL || w2 == NULL || path == NULL || wal_unsynced == NULL ||
	    wal_synced == NULL ||
	    vfs->xOpen(vfs, path, db, flags | SQLITE_OPEN_MAIN_DB, &out) != SQLITE_OK ||
	    vfs->xOpen(vfs, wal_unsynced, w1, flags | SQLITE_OPEN_WAL, &out) != SQLITE_OK ||
	    vfs->xOpen(vfs, wal_synced, w2, flags | SQLITE_OPEN_WAL, &out) != SQLITE_OK) {
		fprintf(stderr, "child: cannot open the files\n");
		return 1;
	}
	if (st_write(db, 'A', 0, ST_SYNCED) != 0 ||
	    db->pMethods->xSync(db, SQLITE_SYNC_FULL) != 0 ||
	    st_write(db, 'B', ST_NEW_FROM, ST_NEW_TO) != 0 || st_write(w1, 'W', 0, 4) != 0 ||
	    st_write(w2, 'W', 0, 4) != 0 || w2->pMethods->xSync(w2, SQLITE_SYNC_FULL) != 0 ||
	    st_write(w2, 'X', 4, 8) != 0) {
		fprintf(stderr, "child: a write failed\n");
		return 1;
	}
	kill(getpid(), SIGUSR2);
	for (;;)
		pause(); /* the VFS's watcher ends the process */
}

/* ---- the parent ---- */

struct st_tally {
	int kept, lost, torn;
};

/* Checks one cut's surviving file; returns a problem or NULL. */
static const char *st_judge(const char *path, const char *mode, struct st_tally *t)
{
	static char problem[256];
	unsigned char buf[ST_SECTOR], synced[ST_SECTOR], now[ST_SECTOR];
	struct stat sb;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &sb) != 0)
		return "the database file is gone";
	off_t size = sb.st_size, lo = (off_t)ST_OLD * ST_SECTOR, hi = (off_t)ST_NEW_TO * ST_SECTOR;
	if (strcmp(mode, "drop") == 0 ? size != lo : size < lo || size > hi) {
		snprintf(problem, sizeof(problem),
		         "size %lld after the cut (synced %lld, written %lld)", (long long)size,
		         (long long)lo, (long long)hi);
		close(fd);
		return problem;
	}
	for (int i = 0; (off_t)i * ST_SECTOR < size; i++) {
		size_t len = (size_t)(size - (off_t)i * ST_SECTOR);
		if (len > ST_SECTOR)
			len = ST_SECTOR;
		if (pread(fd, buf, len, (off_t)i * ST_SECTOR) != (ssize_t)len) {
			close(fd);
			return "cannot read the file";
		}
		if (i >= ST_OLD)
			continue; /* beyond the synced size: anything */
		st_fill(synced, i < ST_SYNCED ? 'A' : 'S', sizeof(synced));
		st_fill(now, i >= ST_NEW_FROM ? 'B' : (i < ST_SYNCED ? 'A' : 'S'), sizeof(now));
		size_t k = 0;
		while (k < len && buf[k] == now[k])
			k++;
		int is_synced = memcmp(buf + k, synced + k, len - k) == 0;
		if (!is_synced) {
			snprintf(problem, sizeof(problem),
			         "sector %d is neither synced, written, nor written up to a point",
			         i);
			close(fd);
			return problem;
		}
		if (i < ST_NEW_FROM)
			continue; /* never written since the sync: synced == written */
		if (k == len)
			t->kept++;
		else if (k == 0)
			t->lost++;
		else
			t->torn++;
	}
	close(fd);
	if (strcmp(mode, "drop") == 0 && (t->kept > 0 || t->torn > 0))
		return "mode drop kept an unsynced sector";
	if (strcmp(mode, "tear") != 0 && t->torn > 0)
		return "a sector was torn outside mode tear";
	return NULL;
}

static int st_make(const char *path, unsigned char c, int sectors)
{
	unsigned char buf[ST_SECTOR];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -1;
	st_fill(buf, c, sizeof(buf));
	for (int i = 0; i < sectors; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			close(fd);
			return -1;
		}
	return close(fd);
}

/* One cut in a fresh directory; returns a problem or NULL. */
static const char *st_cut(const char *dir, const char *mode, unsigned seed, struct st_tally *t)
{
	static char problem[512];
	char path[512], shm[520], w1[520], w2[520], seedstr[16];
	int status;

	snprintf(path, sizeof(path), "%s/t.db", dir);
	snprintf(shm, sizeof(shm), "%s-shm", path);
	/* The unix VFS gives a WAL the mode of its database: u.db, v.db exist. */
	snprintf(w1, sizeof(w1), "%s/u.db-wal", dir);
	snprintf(w2, sizeof(w2), "%s/v.db-wal", dir);
	unlink(w1);
	unlink(w2);
	snprintf(problem, sizeof(problem), "%s/u.db", dir);
	if (st_make(problem, 'U', 0) != 0)
		return "cannot make the files";
	snprintf(problem, sizeof(problem), "%s/v.db", dir);
	if (st_make(problem, 'V', 0) != 0 || st_make(path, 'S', ST_OLD) != 0 ||
	    st_make(shm, 'M', 1) != 0)
		return "cannot make the files";
	snprintf(seedstr, sizeof(seedstr), "%u", seed);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("BOXOFFICE_TEST_POWERLOSS", "1", 1);
		setenv("BOXOFFICE_TEST_POWERLOSS_SEED", seedstr, 1);
		setenv("BOXOFFICE_TEST_POWERLOSS_MODE", mode, 1);
		execl(st_self, st_self, "child", path, w1, w2, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return "cannot run the child";
	if (!WIFEXITED(status) || WEXITSTATUS(status) != ST_CUT_EXIT) {
		snprintf(problem, sizeof(problem),
		         "the child did not end by a power cut (status %d)", status);
		return problem;
	}
	if (access(shm, F_OK) == 0)
		return "the -shm file survived the cut";
	if (access(w1, F_OK) == 0)
		return "a WAL created and never synced survived the cut";
	struct stat sb;
	if (stat(w2, &sb) != 0 || sb.st_size < 4 * ST_SECTOR)
		return "a WAL synced once lost its synced part";
	return st_judge(path, mode, t);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = {"drop", "subset", "tear"};
	char dir[] = "/tmp/boxoffice-vfs-selftest.XXXXXX";
	char name[128];

	st_self = argv[0];
	if (argc == 5 && strcmp(argv[1], "child") == 0)
		return st_child(argv[2], argv[3], argv[4]);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct st_tally total = {0};
		const char *problem = NULL;
		for (unsigned seed = 1; seed <= ST_SEEDS && problem == NULL; seed++) {
			struct st_tally t = {0};
			problem = st_cut(dir, modes[m], seed * 7919u, &t);
			total.kept += t.kept;
			total.lost += t.lost;
			total.torn += t.torn;
		}
		if (problem == NULL && strcmp(modes[m], "drop") != 0 &&
		    (total.kept == 0 || total.lost == 0))
			problem = "never both kept and lost an unsynced sector";
		if (problem == NULL && strcmp(modes[m], "tear") == 0 && total.torn == 0)
			problem = "never tore a sector";
		snprintf(name, sizeof(name),
		         "mode %s, %d cuts: synced data plus a subset of the unsynced sectors "
		         "(%d kept, %d lost, %d torn)",
		         modes[m], ST_SEEDS, total.kept, total.lost, total.torn);
		st_result(name, problem);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%d passed, %d failed\n", st_passed, st_failed);
	return st_failed == 0 ? 0 : 1;
}
