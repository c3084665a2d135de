"""A real Ray cluster of two nodes on this machine for the tests: a head
and a second node, each a separate `ray start --block` process (in a
process group of its own) with token authentication, a private temp dir
and free ports, so that nothing collides with another Ray on the machine.

Stopped by killing those process groups, not by `ray stop`: `ray stop`
ends every Ray process on the machine, other people's clusters included."""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RayCluster:
    def __init__(self, tmp, cpus_per_node=1):
        self.tmp, self.cpus = tmp, cpus_per_node
        self.ray = os.path.join(os.path.dirname(sys.executable), "ray")
        self.token = secrets.token_hex(32)
        # the nodes and every driver share the token; HOME keeps ~/.ray untouched
        self.env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token,
                        HOME=tmp, RAY_USAGE_STATS_ENABLED="0")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes = []

    def _node(self, name, extra):
        args = [self.ray, "start", "--block", f"--num-cpus={self.cpus}", "--num-gpus=0",
                "--disable-usage-stats", f"--temp-dir={self.tmp}/ray",
                f"--dashboard-agent-listen-port={free_port()}",
                f"--dashboard-agent-grpc-port={free_port()}",
                f"--metrics-export-port={free_port()}",
                f"--runtime-env-agent-port={free_port()}"] + extra
        log = open(os.path.join(self.tmp, f"ray-{name}.log"), "w")
        p = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.nodes.append(p)
        return p

    def log_tail(self, n=30):
        out = []
        for name in ("head", "node2"):
            try:
                with open(os.path.join(self.tmp, f"ray-{name}.log")) as f:
                    out.append(f"--- ray-{name}.log\n" + "".join(f.readlines()[-n:]))
            except OSError:
                pass
        return "\n".join(out)

    def start(self, timeout=120):
        head = self._node("head", ["--head", f"--port={self.port}", "--include-dashboard=false"])
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Ray head did not start\n" + self.log_tail())
                time.sleep(0.2)
        self._node("node2", [f"--address={self.address}"])
        # both nodes registered and alive, seen by a driver with the token
        probe = (f"import ray, time\nray.init(address='{self.address}', logging_level='ERROR')\n"
                 "for _ in range(400):\n"
                 "    if len([n for n in ray.nodes() if n['Alive']]) == 2: break\n"
                 "    time.sleep(0.25)\n"
                 "print(len([n for n in ray.nodes() if n['Alive']]))\n")
        r = subprocess.run([sys.executable, "-c", probe], env=self.env, capture_output=True,
                           text=True, timeout=max(10, deadline - time.monotonic()))
        if r.stdout.strip() != "2":
            raise RuntimeError(f"the cluster has {r.stdout.strip() or '?'} nodes, not 2\n"
                               f"{r.stderr[-2000:]}\n{self.log_tail()}")
        return self

    def pgids(self):
        return {p.pid for p in self.nodes}

    def processes(self, needle=None):
        """PIDs of this cluster's processes: its process groups and their
        descendants (Ray puts each worker in a process group of its own),
        those whose command line contains needle if given."""
        table = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            table[int(d)] = (int(fields[1]), int(fields[2]), cmd)      # ppid, pgid
        ours = {pid for pid, (_, pgid, _) in table.items() if pgid in self.pgids()}
        grown = True
        while grown:
            more = {pid for pid, (ppid, _, _) in table.items() if ppid in ours} - ours
            ours |= more
            grown = bool(more)
        return sorted(p for p in ours if needle is None or needle in table[p][2])

    def stop(self):
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
            left = self.processes()
            for p in self.nodes:
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
            for pid in left:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.2)
            if not self.processes():
                break
        for p in self.nodes:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        left = self.processes()
        if left:
            raise RuntimeError(f"Ray processes left after stopping the cluster: {left}")

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
