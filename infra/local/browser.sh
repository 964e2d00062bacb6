# shellcheck shell=bash
#
# Chromium and its WebDriver (Debian's `chromium` and `chromium-driver`), for the
# console's browser test (tests/browser) and `make console-screenshots`. Sourced by
# services.sh after lib.sh; defines browser_install.

browser_install() {
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && return 0
  log "installing chromium and chromium-driver (the console's browser test)"
  apt_install chromium chromium-driver
  command -v chromedriver >/dev/null 2>&1 || die "chromedriver still not found after installing"
}
