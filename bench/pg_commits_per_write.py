#!/usr/bin/python3
"""pg_commits_per_write.py URL PORT - checks that a hold on PostgreSQL is one
transaction and one WAL flush: makes 300 sequential holds through the
boxoffice node on 127.0.0.1:PORT (admin token "t") and prints the growth of
assigned transaction ids (write transactions: read-only ones, such as the
feed tailer's polls, get none) and of pg_stat_wal.wal_sync. Before the
change feed, bo_notify() after each write made it two of each."""
import json, http.client, subprocess, time, sys
U=sys.argv[1]
def q(sql):
    return subprocess.run(["runuser","-u","postgres","--","psql","-X","-At",U,"-c",sql],capture_output=True,text=True).stdout.strip()
c=http.client.HTTPConnection("127.0.0.1",int(sys.argv[2]))
def post(path, body, admin=False):
    h={"Content-Type":"application/json"}
    if admin: h["Authorization"]="Bearer t"
    c.request("POST",path,json.dumps(body),h); r=c.getresponse(); return r.status, json.loads(r.read())
_,m=post("/api/admin/movies",{"name":"C","durationMinutes":90,"lastShowDate":"2027-06-01"},True)
_,s=post("/api/admin/screens",{"name":"C","rows":20,"seatsPerRow":50},True)
_,sh=post("/api/admin/shows",{"movieId":m["movieId"],"screenId":s["screenId"],"showTime":"2027-02-03T10:00:00.000Z"},True)
sid=sh["showId"]
stat="SELECT xact_commit, pg_snapshot_xmax(pg_current_snapshot())::text::bigint, (SELECT wal_sync FROM pg_stat_wal) FROM pg_stat_database WHERE datname=current_database()"
def snap():
    q("SELECT pg_stat_clear_snapshot()")
    return [int(x) for x in q(stat).split("|")]
time.sleep(1)
a=snap(); t0=time.time(); time.sleep(3); b=snap(); idle=time.time()-t0
N=300
a2=snap(); t0=time.time()
for i in range(N):
    st,_=post("/api/bookings/hold",{"username":"cm%d-%d"%(int(t0),i),"showId":sid,"seats":["%s%d"%(chr(65+i//50),i%50+1)]})
    assert st==200, st
T=time.time()-t0; b2=snap()
rate=[(b[k]-a[k])/idle for k in range(3)]
d=[b2[k]-a2[k] for k in range(3)]
print("idle per s: xact_commit %.1f xids %.1f wal_sync %.1f"%tuple(rate))
print("%d holds in %.2f s: xact_commit +%d, write transactions (xids assigned) +%d = %.3f per hold, wal_sync +%d = %.2f per hold"%(N,T,d[0],d[1],d[1]/N,d[2],d[2]/N))
