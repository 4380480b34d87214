#!/usr/bin/env bash
# Compiles every kernel (kernels/*.hip) and the real HIP backend's host code
# (native/hip/) for real AMD GPUs with hipcc, and links them into
# build-hip-amd/libhipserve_hip.so (the library the addon dlopens).
# No GPU is needed to compile: a kernel that does not compile for AMD fails
# this script, and so fails CI (.ci/run calls it after `npm ci`).
#
# Debian 12's hipcc (clang 15) knows gfx90a and gfx1030, not gfx942/gfx1100:
# Dockerfile.rocm builds those with a ROCm 6 toolchain.
#   HIPSERVE_HIP_ARCHS="gfx90a;gfx1030"   offload targets (';'-separated)
#   HIPSERVE_HIP_JOBS=2                    parallel hipcc processes
#   HIPSERVE_HIP_OUT=build-hip-amd         output directory
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hipcc >/dev/null 2>&1; then
  echo "build-hip-amd: installing Debian's hipcc, libamdhip64-dev, rocm-device-libs"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq hipcc libamdhip64-dev rocm-device-libs >/dev/null
fi

# Without this hipcc picks nvcc where CUDA is installed.
export HIP_PLATFORM=amd
archs="${HIPSERVE_HIP_ARCHS:-gfx90a;gfx1030}"
jobs="${HIPSERVE_HIP_JOBS:-2}"
out="${HIPSERVE_HIP_OUT:-build-hip-amd}"
mkdir -p "$out/obj"
# hipcc (HIP 5.2's clang) leaves an empty "<kernel>-xxxxxx" folder in TMPDIR
# for every offload target it compiles; keep them in a private folder that
# goes away with the script instead of piling up in /tmp on every CI run.
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/hipserve-hipcc-XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

offload=()
IFS=';' read -ra arch_list <<<"$archs"
# Always name the targets: without --offload-arch hipcc runs
# rocm_agent_enumerator, which fails on a machine without /sys/class/kfd.
for a in "${arch_list[@]}"; do offload+=("--offload-arch=$a"); done

node_inc="$(node -p 'require("node-addon-api").include' | tr -d '"')"
node_hdr="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -d "$node_hdr" ] || node_hdr=/usr/include/node
flags=(-std=c++17 -O3 -fPIC -Wall -Wextra -Werror "${offload[@]}"
  -I kernels -I native/src -I "$node_inc" -I "$node_hdr"
  "-DHIPSERVE_HIP_ARCHS=\"$archs\"")
if [ -f /opt/rocm/include/rocblas/rocblas.h ]; then
  flags+=(-DHIPSERVE_HAVE_ROCBLAS)
  libs=(-L/opt/rocm/lib -lrocblas)
else
  libs=()
fi

sources=(kernels/*.hip native/hip/*.cc)
start=$(date +%s)
pids=()
failed=0
for src in "${sources[@]}"; do
  obj="$out/obj/$(basename "$src").o"
  echo "hipcc [$archs] $src"
  hipcc -x hip -c "${flags[@]}" "$src" -o "$obj" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
if [ "$failed" -ne 0 ]; then
  echo "build-hip-amd: a kernel or the HIP host code did not compile for $archs" >&2
  exit 1
fi

hipcc -shared "${offload[@]}" "$out"/obj/*.o "${libs[@]}" -o "$out/libhipserve_hip.so"
echo "build-hip-amd: $out/libhipserve_hip.so for $archs in $(($(date +%s) - start)) s"
