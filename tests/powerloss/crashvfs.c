/* crashvfs.c - a simulated power cut under SQLite, for tests only.
 *
 * Linked only into the test build of the server (tests/boxoffice_testing)
 * and active only when BOXOFFICE_TEST_POWERLOSS=1: it then registers itself
 * as the default SQLite VFS, a thin layer over the real one ("unix"). Every
 * call goes through to the real files, so the process reads its own writes,
 * but for each main database, WAL and journal file this layer remembers
 * what was durable at that file's last xSync: its size then, and the 512-byte
 * sectors written since, each with its content before the first such write.
 *
 * SIGUSR2 cuts the power. Under the lock that every write, truncate and sync
 * takes (so no write is half done), each file keeps either its synced size
 * or some of its unsynced change of size, and each unsynced sector is decided
 * by a seeded generator: kept (the disk wrote it), lost (back to its synced
 * content), torn (a prefix of the new bytes written, the rest old) or, beyond
 * the synced size, garbage. Files created and never synced vanish; the -shm
 * files, which are memory, are removed. One line on stderr sums it up and the
 * process ends with _exit(CRASHVFS_EXIT_CODE), running nothing else. What is
 * left on disk is exactly the synced data plus a random subset of the
 * unsynced sectors, in any order of writing: what a power cut may leave on a
 * disk that honours fsync.
 *
 * Environment: BOXOFFICE_TEST_POWERLOSS_SEED (the generator's seed; default
 * from the clock) and BOXOFFICE_TEST_POWERLOSS_MODE: "drop" (every unsynced
 * write lost), "subset" (each unsynced sector kept with probability 1/2),
 * "tear" (as subset, and a third of the others torn); default: one of the
 * three, chosen by the seed.
 *
 * The model's limits, stated: writes to one sector never harm another
 * (SQLite's "powersafe overwrite", which the unix VFS claims); the directory
 * entry of a WAL or journal file is durable after its first xSync (the unix
 * VFS syncs the directory then), that of a new main database never; a delete
 * is durable at once; versions of a sector between its synced and its last
 * content are not kept (a torn sector stands in for them). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	CRASHVFS_EXIT_CODE = 86, /* the process ended by a power cut */
	CV_SECTOR = 512,
	CV_PATH_MAX = 4096,
	CV_SIGNAL = SIGUSR2,
};

enum cv_mode { CV_DROP, CV_SUBSET, CV_TEAR };
static const char *const cv_mode_names[] = {"drop", "subset", "tear"};

/* One unsynced sector of a file; old == NULL when it lies wholly beyond the
 * synced size, else old_len (<= CV_SECTOR) bytes of synced content. */
struct cv_sector {
	int64_t index; /* -1: empty slot */
	int old_len;
	unsigned char *old;
};

/* What is durable of one path, shared by every handle open on it. */
struct cv_node {
	char path[CV_PATH_MAX];
	int is_main_db;
	int created;         /* created by this process, entry not yet durable */
	int64_t synced_size; /* size at the last xSync (or at first open) */
	struct cv_sector *slots;
	size_t cap, used;
	uint64_t writes; /* writes and truncates so far */
	struct cv_node *next;
};

struct cv_file {
	sqlite3_file base;
	struct cv_node *node; /* NULL: not tracked (temporary files) */
	sqlite3_file *real;   /* the real VFS's file, allocated after this */
};

static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_vfs *cv_real;
static struct cv_node *cv_nodes;
static uint64_t cv_rng;
static enum cv_mode cv_mode;
static uint64_t cv_seed;

static uint64_t cv_random(void)
{
	/* splitmix64 */
	uint64_t z = (cv_rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void cv_die(const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "crashvfs: %s\n", what);

	if (write(2, line, (size_t)n) < 0)
		_exit(1);
	_exit(1);
}

/* ---- the record of unsynced sectors (an open-addressing hash) ---- */

static struct cv_sector *cv_slot(struct cv_node *n, int64_t index)
{
	size_t i = (size_t)((uint64_t)index * 0x9e3779b97f4a7c15ULL) & (n->cap - 1);

	while (n->slots[i].index != -1 && n->slots[i].index != index)
		i = (i + 1) & (n->cap - 1);
	return &n->slots[i];
}

static void cv_grow(struct cv_node *n)
{
	struct cv_sector *old = n->slots;
	size_t old_cap = n->cap;

	n->cap = old_cap ? old_cap * 2 : 256;
	n->slots = malloc(n->cap * sizeof(*n->slots));
	if (n->slots == NULL)
		cv_die("out of memory");
	for (size_t i = 0; i < n->cap; i++)
		n->slots[i].index = -1;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].index != -1)
			*cv_slot(n, old[i].index) = old[i];
	free(old);
}

static void cv_forget(struct cv_node *n)
{
	for (size_t i = 0; i < n->cap; i++) {
		if (n->slots[i].index != -1) {
			free(n->slots[i].old);
			n->slots[i].index = -1;
		}
	}
	n->used = 0;
}

/* Records sector `index` before its first unsynced change. */
static int cv_remember(struct cv_node *n, sqlite3_file *real, int64_t index)
{
	if (n->used * 2 >= n->cap)
		cv_grow(n);
	struct cv_sector *s = cv_slot(n, index);
	if (s->index == index)
		return SQLITE_OK;
	s->index = index;
	s->old = NULL;
	s->old_len = 0;
	n->used++;
	int64_t off = index * CV_SECTOR;
	if (off >= n->synced_size)
		return SQLITE_OK;
	s->old_len = (int)(n->synced_size - off < CV_SECTOR ? n->synced_size - off : CV_SECTOR);
	s->old = malloc(CV_SECTOR);
	if (s->old == NULL)
		cv_die("out of memory");
	int rc = real->pMethods->xRead(real, s->old, s->old_len, off);
	return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_OK : rc;
}

static int cv_remember_range(struct cv_node *n, sqlite3_file *real, int64_t from, int64_t to)
{
	for (int64_t i = from / CV_SECTOR; i * CV_SECTOR < to; i++) {
		int rc = cv_remember(n, real, i);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static struct cv_node *cv_node_get(const char *path, int is_main_db, int created,
                                   sqlite3_file *real)
{
	struct cv_node *n;
	sqlite3_int64 size = 0;

	for (n = cv_nodes; n != NULL; n = n->next)
		if (strcmp(n->path, path) == 0)
			return n;
	n = calloc(1, sizeof(*n));
	if (n == NULL || strlen(path) >= sizeof(n->path))
		cv_die("cannot track a file");
	snprintf(n->path, sizeof(n->path), "%s", path);
	n->is_main_db = is_main_db;
	n->created = created;
	/* What is on disk when this process first opens a file is durable:
	 * an earlier process left it there and closed or lost it. */
	if (real->pMethods->xFileSize(real, &size) != SQLITE_OK)
		cv_die("cannot read a file's size");
	n->synced_size = size;
	cv_grow(n);
	n->next = cv_nodes;
	cv_nodes = n;
	return n;
}

/* ---- the file methods: through to the real file, recording first ---- */

static int cv_close(sqlite3_file *f)
{
	struct cv_file *p = (struct cv_file *)f;

	/* The node stays: what was not synced is still at risk. */
	return p->real->pMethods->xClose(p->real);
}

static int cv_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xRead(p->real, buf, amt, off);
}

static int cv_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	struct cv_file *p = (struct cv_file *)f;
	int rc = SQLITE_OK;

	pthread_mutex_lock(&cv_lock);
	if (p->node != NULL) {
		p->node->writes++;
		rc = cv_remember_range(p->node, p->real, off, off + amt);
	}
	if (rc == SQLITE_OK)
		rc = p->real->pMethods->xWrite(p->real, buf, amt, off);
	pthread_mutex_unlock(&cv_lock);
	return rc;
}

static int cv_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct cv_file *p = (struct cv_file *)f;
	sqlite3_int64 cur = 0;
	int rc = SQLITE_OK;

	pthread_mutex_lock(&cv_lock);
	if (p->node != NULL) {
		p->node->writes++;
		rc = p->real->pMethods->xFileSize(p->real, &cur);
		if (rc == SQLITE_OK && size < cur)
			rc = cv_remember_range(p->node, p->real, size, cur);
	}
	if (rc == SQLITE_OK)
		rc = p->real->pMethods->xTruncate(p->real, size);
	pthread_mutex_unlock(&cv_lock);
	return rc;
}

/* The lock is not held during the real sync: a cut that comes while the
 * disk is still syncing finds the data unsynced, as a power cut would. */
static int cv_sync(sqlite3_file *f, int flags)
{
	struct cv_file *p = (struct cv_file *)f;
	sqlite3_int64 size = 0;
	uint64_t writes;

	pthread_mutex_lock(&cv_lock);
	writes = p->node ? p->node->writes : 0;
	pthread_mutex_unlock(&cv_lock);
	int rc = p->real->pMethods->xSync(p->real, flags);
	pthread_mutex_lock(&cv_lock);
	if (rc == SQLITE_OK && p->node != NULL) {
		/* SQLite has one writer per file: a write during its sync would
		 * make "synced" ambiguous, and this model does not cover it. */
		if (p->node->writes != writes)
			cv_die("a file was written while it was being synced");
		rc = p->real->pMethods->xFileSize(p->real, &size);
		if (rc == SQLITE_OK) {
			cv_forget(p->node);
			p->node->synced_size = size;
			if (!p->node->is_main_db)
				p->node->created = 0;
		}
	}
	pthread_mutex_unlock(&cv_lock);
	return rc;
}

static int cv_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xFileSize(p->real, size);
}

static int cv_lock_file(sqlite3_file *f, int level)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xLock(p->real, level);
}

static int cv_unlock_file(sqlite3_file *f, int level)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xUnlock(p->real, level);
}

static int cv_check_reserved(sqlite3_file *f, int *out)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xCheckReservedLock(p->real, out);
}

static int cv_file_control(sqlite3_file *f, int op, void *arg)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int cv_sector_size(sqlite3_file *f)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xSectorSize(p->real);
}

static int cv_device_characteristics(sqlite3_file *f)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xDeviceCharacteristics(p->real);
}

static int cv_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xShmMap(p->real, page, size, extend, out);
}

static int cv_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}

static void cv_shm_barrier(sqlite3_file *f)
{
	struct cv_file *p = (struct cv_file *)f;

	p->real->pMethods->xShmBarrier(p->real);
}

static int cv_shm_unmap(sqlite3_file *f, int delete_flag)
{
	struct cv_file *p = (struct cv_file *)f;

	return p->real->pMethods->xShmUnmap(p->real, delete_flag);
}

/* Version 2: shared memory, but no memory-mapped reads (xFetch). */
static const sqlite3_io_methods cv_io_methods = {
    .iVersion = 2,
    .xClose = cv_close,
    .xRead = cv_read,
    .xWrite = cv_write,
    .xTruncate = cv_truncate,
    .xSync = cv_sync,
    .xFileSize = cv_file_size,
    .xLock = cv_lock_file,
    .xUnlock = cv_unlock_file,
    .xCheckReservedLock = cv_check_reserved,
    .xFileControl = cv_file_control,
    .xSectorSize = cv_sector_size,
    .xDeviceCharacteristics = cv_device_characteristics,
    .xShmMap = cv_shm_map,
    .xShmLock = cv_shm_lock,
    .xShmBarrier = cv_shm_barrier,
    .xShmUnmap = cv_shm_unmap,
};

/* ---- the VFS ---- */

static int cv_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                   int *out_flags)
{
	struct cv_file *p = (struct cv_file *)f;
	int durable = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL |
	              SQLITE_OPEN_SUPER_JOURNAL;
	(void)vfs;

	p->base.pMethods = NULL;
	p->node = NULL;
	p->real = (sqlite3_file *)(p + 1);
	pthread_mutex_lock(&cv_lock);
	int tracked = name != NULL && (flags & durable) != 0;
	int created = tracked && access(name, F_OK) != 0;
	int rc = cv_real->xOpen(cv_real, name, p->real, flags, out_flags);
	if (rc == SQLITE_OK) {
		if (tracked)
			p->node =
			    cv_node_get(name, (flags & SQLITE_OPEN_MAIN_DB) != 0, created, p->real);
		p->base.pMethods = &cv_io_methods;
	}
	pthread_mutex_unlock(&cv_lock);
	return rc;
}

static int cv_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	struct cv_node **pp;
	(void)vfs;

	pthread_mutex_lock(&cv_lock);
	for (pp = &cv_nodes; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->path, name) == 0) {
			struct cv_node *n = *pp;
			*pp = n->next;
			cv_forget(n);
			free(n->slots);
			free(n);
			break;
		}
	}
	int rc = cv_real->xDelete(cv_real, name, sync_dir);
	pthread_mutex_unlock(&cv_lock);
	return rc;
}

static int cv_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return cv_real->xAccess(cv_real, name, flags, out);
}

static int cv_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return cv_real->xFullPathname(cv_real, name, n, out);
}

static void *cv_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return cv_real->xDlOpen(cv_real, name);
}

static void cv_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	cv_real->xDlError(cv_real, n, out);
}

static void (*cv_dl_sym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
	(void)vfs;
	return cv_real->xDlSym(cv_real, lib, sym);
}

static void cv_dl_close(sqlite3_vfs *vfs, void *lib)
{
	(void)vfs;
	cv_real->xDlClose(cv_real, lib);
}

static int cv_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return cv_real->xRandomness(cv_real, n, out);
}

static int cv_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return cv_real->xSleep(cv_real, us);
}

static int cv_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return cv_real->xCurrentTime(cv_real, out);
}

static int cv_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return cv_real->xGetLastError(cv_real, n, out);
}

static int cv_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return cv_real->xCurrentTimeInt64(cv_real, out);
}

static sqlite3_vfs cv_vfs = {
    .iVersion = 2,
    .mxPathname = CV_PATH_MAX,
    .zName = "crashvfs",
    .xOpen = cv_open,
    .xDelete = cv_delete,
    .xAccess = cv_access,
    .xFullPathname = cv_full_pathname,
    .xDlOpen = cv_dl_open,
    .xDlError = cv_dl_error,
    .xDlSym = cv_dl_sym,
    .xDlClose = cv_dl_close,
    .xRandomness = cv_randomness,
    .xSleep = cv_sleep,
    .xCurrentTime = cv_current_time,
    .xGetLastError = cv_last_error,
    .xCurrentTimeInt64 = cv_current_time64,
};

/* ---- the power cut ---- */

struct cv_tally {
	long files, vanished, sectors, kept, lost, torn, garbage;
	long in_db; /* of the sectors: in main database files (a checkpoint) */
};

static void cv_pwrite(int fd, const unsigned char *buf, size_t len, int64_t off)
{
	if (len > 0 && pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		cv_die("cannot write the surviving image");
}

/* The size a file is left with: synced, or part of the unsynced change. */
static int64_t cv_final_size(int64_t synced, int64_t cur)
{
	if (cv_mode == CV_DROP || synced == cur)
		return synced;
	switch (cv_random() % 3) {
	case 0:
		return synced;
	case 1:
		return cur;
	}
	int64_t lo = synced < cur ? synced : cur, hi = synced < cur ? cur : synced;
	return lo + (int64_t)(cv_random() % (uint64_t)(hi - lo + 1));
}

static void cv_cut_sector(int fd, const struct cv_sector *s, int64_t final, struct cv_tally *t)
{
	int64_t off = s->index * CV_SECTOR;
	unsigned char junk[CV_SECTOR];
	uint64_t r = cv_random();
	int keep = cv_mode != CV_DROP && r % 2 == 0;
	int tear = !keep && cv_mode == CV_TEAR && r % 3 == 0;

	if (off >= final)
		return;
	t->sectors++;
	if (keep) {
		t->kept++;
		return;
	}
	if (s->old == NULL) {
		/* New space the disk never wrote: whatever was there. */
		size_t len = final - off < CV_SECTOR ? (size_t)(final - off) : CV_SECTOR;
		for (size_t i = 0; i < len; i++)
			junk[i] = (unsigned char)cv_random();
		cv_pwrite(fd, junk, len, off);
		t->garbage++;
		return;
	}
	size_t len = (size_t)s->old_len;
	if ((int64_t)len > final - off)
		len = (size_t)(final - off);
	size_t from = tear ? (size_t)(cv_random() % (len + 1)) : 0;
	cv_pwrite(fd, s->old + from, len - from, off + (int64_t)from);
	if (tear)
		t->torn++;
	else
		t->lost++;
}

static void cv_cut_node(struct cv_node *n, struct cv_tally *t)
{
	struct stat st;
	char shm[CV_PATH_MAX + 8];

	if (n->is_main_db) {
		snprintf(shm, sizeof(shm), "%s-shm", n->path);
		unlink(shm);
	}
	if (n->created) {
		unlink(n->path);
		t->vanished++;
		return;
	}
	int fd = open(n->path, O_WRONLY);
	if (fd < 0 || fstat(fd, &st) != 0)
		cv_die("cannot open a file to cut");
	int64_t final = cv_final_size(n->synced_size, (int64_t)st.st_size);
	if (ftruncate(fd, (off_t) final) != 0)
		cv_die("cannot set the surviving size");
	long before = t->sectors;
	for (size_t i = 0; i < n->cap; i++)
		if (n->slots[i].index != -1)
			cv_cut_sector(fd, &n->slots[i], final, t);
	if (n->is_main_db)
		t->in_db += t->sectors - before;
	close(fd);
	t->files++;
}

static void cv_cut(void)
{
	struct cv_tally t = {0};
	char line[512];

	pthread_mutex_lock(&cv_lock); /* kept: nothing writes after the cut */
	for (struct cv_node *n = cv_nodes; n != NULL; n = n->next)
		cv_cut_node(n, &t);
	int len = snprintf(line, sizeof(line),
	                   "crashvfs: power cut (mode %s, seed %llu): %ld files, %ld vanished, "
	                   "%ld unsynced sectors: %ld kept, %ld lost, %ld torn, %ld garbage; "
	                   "%ld in database files\n",
	                   cv_mode_names[cv_mode], (unsigned long long)cv_seed, t.files, t.vanished,
	                   t.sectors, t.kept, t.lost, t.torn, t.garbage, t.in_db);
	if (write(2, line, (size_t)len) < 0)
		_exit(CRASHVFS_EXIT_CODE);
	_exit(CRASHVFS_EXIT_CODE);
}

static void *cv_watch(void *arg)
{
	sigset_t *sigs = arg;
	int sig;

	while (sigwait(sigs, &sig) != 0)
		;
	cv_cut();
	return NULL;
}

/* Runs before main: the server's own code never knows this layer exists. */
__attribute__((constructor)) static void cv_install(void)
{
	static sigset_t sigs;
	const char *on = getenv("BOXOFFICE_TEST_POWERLOSS");
	const char *seed = getenv("BOXOFFICE_TEST_POWERLOSS_SEED");
	const char *mode = getenv("BOXOFFICE_TEST_POWERLOSS_MODE");
	pthread_t watcher;

	if (on == NULL || strcmp(on, "1") != 0)
		return;
	cv_seed = seed && *seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
	cv_rng = cv_seed;
	cv_mode = (enum cv_mode)(cv_random() % 3);
	for (int i = 0; mode && i < 3; i++)
		if (strcmp(mode, cv_mode_names[i]) == 0)
			cv_mode = (enum cv_mode)i;
	cv_real = sqlite3_vfs_find(NULL);
	if (cv_real == NULL)
		cv_die("no default VFS");
	cv_vfs.szOsFile = (int)sizeof(struct cv_file) + cv_real->szOsFile;
	if (sqlite3_vfs_register(&cv_vfs, 1) != SQLITE_OK)
		cv_die("cannot register");
	/* Blocked here, in the main thread, so in every thread made later:
	 * only the watcher takes the signal. */
	sigemptyset(&sigs);
	sigaddset(&sigs, CV_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (pthread_create(&watcher, NULL, cv_watch, &sigs) != 0)
		cv_die("cannot start the watcher");
	pthread_detach(watcher);
}
