# Debian packages HomeLens needs, sourced by scripts/setup and scripts/test.
# Installs only what is missing, so a rerun on a ready machine costs nothing.
HOMELENS_BUILD_PACKAGES="g++ cmake ninja-build pkg-config libopencv-dev libsqlite3-dev
  nlohmann-json3-dev libcli11-dev libspdlog-dev libssl-dev libopenblas-dev libcpp-httplib-dev libtbb-dev sqlite3
  libpqxx-dev postgresql libdnnl-dev libonnx-dev libprotobuf-dev libfaiss-dev libopenmpi-dev openmpi-bin
  libpugixml-dev libjpeg-dev"
HOMELENS_TEST_PACKAGES="libgtest-dev libbenchmark-dev python3-opencv python3-numpy wrk
  chromium libhnswlib-dev"

homelens_install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Node.js and npm drive the browser test (playwright-core from the npm registry).
homelens_install_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  homelens_install_packages nodejs npm
}
