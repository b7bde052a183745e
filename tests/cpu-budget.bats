#!/usr/bin/env bats
# A running shard-convert's threads follow its CPU budget (the affinity mask
# and the cgroup CPU quota), not the machine's CPU count: allowed one CPU, as
# a Spark executor given one core is, it converts with one thread.
#
# The threads are counted in /proc while shard-convert waits for more input
# from a FIFO, half way through its rows: its main thread (reading), the
# thread that handles signals, and its converter threads.

load helpers

setup() {
	[ -r /proc/self/task ] || skip "no /proc to count threads in"
	command -v taskset >/dev/null || skip "no taskset"
	cd "$BATS_TEST_TMPDIR"
	mkfifo in
}

teardown() {
	[ -z "${CG:-}" ] || rmdir "$CG" 2>/dev/null || true
	[ -z "${MOTO:-}" ] || kill "$MOTO" 2>/dev/null || true
}

# threads_converting [CMD ARG...]: shard-convert run through CMD (taskset,
# a shell that enters a cgroup) reads 50,000 rows from the FIFO ./in into
# $DEST (default ./ds, which must not exist), and once its main thread waits
# in read() on that FIFO for more, prints its number of threads; then the
# rest of the rows, and the dataset must hold all 100,000
threads_converting() {
	local pid i fd n status=0 dest=${DEST:-ds}
	"$@" shard-convert -q --no-sync --size-limit 256KiB -s a:int64,b:str -o "$dest" in &
	pid=$!
	exec 3> in
	seq 1 50000 | awk '{ print $1 ",row " $1 }' >&3
	n=
	for i in $(seq 200); do
		# the main thread's system call: "0 FD ..." is read(FD)
		read -r nr fd _ < "/proc/$pid/syscall" 2>/dev/null || true
		if [ "$nr" = 0 ] && [ "$(readlink "/proc/$pid/fd/$((fd))" 2>/dev/null)" = "$PWD/in" ]; then
			n=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
			break
		fi
		sleep 0.05
	done
	seq 50001 100000 | awk '{ print $1 ",row " $1 }' >&3
	exec 3>&-
	wait "$pid" || status=$?
	[ "$status" -eq 0 ] || { echo "shard-convert exited with status $status" >&2; return 1; }
	[ -n "$n" ] || { echo "shard-convert never waited on the FIFO" >&2; return 1; }
	[ "$(shard-cat "$dest" | wc -l)" -eq 100000 ] || { echo "$dest lacks rows" >&2; return 1; }
	echo "$n"
}

# cpus N: N CPUs this process may run on, "A,B,...", or fails with fewer
cpus() {
	local list
	list=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status | tr ',' '\n' |
		awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }' | head -n "$1" | paste -sd,)
	[ "$(echo "$list" | tr ',' '\n' | wc -l)" -eq "$1" ] && echo "$list"
}

@test "taskset -c with one CPU: one converter thread beside the main and signal threads; two CPUs: two" {
	cpus=$(cpus 2) || skip "this process may run on one CPU only"
	one=$(DEST=one threads_converting taskset -c "${cpus%,*}")
	two=$(DEST=two threads_converting taskset -c "$cpus")
	echo "threads: $one with one CPU, $two with two"
	[ "$one" -eq 3 ]
	[ "$two" -eq 4 ]
}

@test "four CPUs allowed: four converter threads" {
	four=$(cpus 4) || skip "this process may run on fewer than 4 CPUs"
	four=$(threads_converting taskset -c "$four")
	echo "threads: $four with four CPUs"
	[ "$four" -eq 6 ]
}

# cgroup_with_quota: a new cgroup whose CPU quota is one CPU, path in CG and
# the file that takes a process in ENTER (cgroup v2 cpu.max, else v1's
# cpu.cfs_quota_us); returns 1 where none can be made
cgroup_with_quota() {
	local top=/sys/fs/cgroup name=shardkit-cpu-budget.$$.$BATS_TEST_NUMBER v1
	if [ -f "$top/cgroup.controllers" ]; then
		grep -qw cpu "$top/cgroup.subtree_control" 2>/dev/null ||
			echo +cpu > "$top/cgroup.subtree_control" 2>/dev/null || return 1
		CG=$top/$name
		mkdir "$CG" 2>/dev/null || { CG=; return 1; }
		echo "100000 100000" > "$CG/cpu.max" 2>/dev/null || return 1
	else
		for v1 in "$top/cpu,cpuacct" "$top/cpu"; do
			[ -f "$v1/cpu.cfs_quota_us" ] && break
		done
		[ -f "$v1/cpu.cfs_quota_us" ] || return 1
		CG=$v1/$name
		mkdir "$CG" 2>/dev/null || { CG=; return 1; }
		echo 100000 > "$CG/cpu.cfs_period_us" 2>/dev/null && echo 100000 > "$CG/cpu.cfs_quota_us" 2>/dev/null ||
			return 1
	fi
	ENTER=$CG/cgroup.procs
}

@test "a cgroup CPU quota of one CPU over an affinity of two: one converter thread" {
	cpus=$(cpus 2) || skip "this process may run on one CPU only"
	cgroup_with_quota || skip "no cgroup with a CPU quota can be made here (/sys/fs/cgroup not writable or no cpu controller)"
	free=$(DEST=free threads_converting taskset -c "$cpus")
	# a shell that enters the cgroup, then becomes taskset, then shard-convert
	quota=$(DEST=quota threads_converting sh -c 'echo $$ > "$1" && shift && exec "$@"' sh "$ENTER" taskset -c "$cpus")
	echo "threads: $free with two CPUs, $quota with two CPUs and a quota of one ($CG)"
	[ "$free" -eq 4 ]
	[ "$quota" -eq 3 ]
}

@test "into s3://: the converter threads follow the budget there too (one fewer with one CPU than with two), the upload threads aside" {
	cpus=$(cpus 2) || skip "this process may run on one CPU only"
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	port=$(free_port)
	"$SHARDKIT_PYTHON" -m moto.server -H 127.0.0.1 -p "$port" > moto.log 2>&1 3>&- &
	MOTO=$!
	wait_port "$port" 60 || { cat moto.log; false; }
	export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
	export AWS_DEFAULT_REGION=us-east-1
	"$SHARDKIT_PYTHON" -c 'import boto3; boto3.client("s3").create_bucket(Bucket="bucket")'
	one=$(DEST=s3://bucket/one threads_converting taskset -c "${cpus%,*}")
	two=$(DEST=s3://bucket/two threads_converting taskset -c "$cpus")
	echo "threads: $one with one CPU, $two with two"
	[ "$two" -eq $((one + 1)) ]
}
