"""Helpers the load scripts share: free loopback ports, tools installed on demand, bounded
waits for a server to listen."""
import os, shutil, socket, subprocess, sys, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def need(tool, package):
    """Installs `package` with apt-get (as root) when `tool` is missing; exits if still missing.
    Tools in /usr/sbin (nginx) count even when that is not on PATH."""
    if shutil.which(tool):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package], check=True)
    if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
        sys.exit(f"{tool} is missing: apt-get install {package}")


def wait_port(port, proc, what, timeout=20):
    """Waits until 127.0.0.1:port accepts, exiting if `proc` dies or `timeout` passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port} within {timeout}s")
