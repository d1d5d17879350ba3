# Sourced by the compose scripts when the engine is podman: the settings podman needs on
# these machines, in a containers.conf of the project's own (CONTAINERS_CONF), so nothing of
# the host's configuration changes. runc (crun refuses hybrid cgroups), cgroupfs (no
# systemd), and resource limits no higher than what this host lets a container have:
# podman's defaults are refused (setrlimit: operation not permitted), and so is a process
# limit above conmon's (32768). `podman build` also gets them as flags: PODMAN_LIMITS.
podman_state="${COMPOSE_STATE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.compose}"
podman_limit() {  # limit name, cap: this shell's hard limit, at most the cap
  local hard
  hard=$(ulimit -H "$1")
  if [ "$hard" = unlimited ] || [ "$hard" -gt "$2" ]; then echo "$2"; else echo "$hard"; fi
}
PODMAN_NOFILE=$(podman_limit -n 65536)
PODMAN_NPROC=$(podman_limit -u 32768)
PODMAN_LIMITS=(--ulimit "nofile=$PODMAN_NOFILE:$PODMAN_NOFILE" --ulimit "nproc=$PODMAN_NPROC:$PODMAN_NPROC")
mkdir -p "$podman_state"
cat > "$podman_state/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$PODMAN_NOFILE:$PODMAN_NOFILE", "nproc=$PODMAN_NPROC:$PODMAN_NPROC"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$podman_state/containers.conf"
