#!/usr/bin/python3
"""natpilot web interface in a real browser: headless Chromium (Debian's
chromium + chromium-driver) driven by Selenium, run by tests/lab/test_web.sh
inside the lab's lan1 namespace.

  web_browser.py URL TOKEN SHOTS_DIR HANDSHAKE_DIR LAN2_IP LAN1_IP

Steps (each prints "ok   ..." or "FAIL ..."; exit 1 when any failed):
  login; status page; the set-up for lan2 to the end (3 of 3 ports mapped);
  the status page updating after a router restart (the shell restarts
  miniupnpd when HANDSHAKE_DIR/restart.request appears, then touches
  restart.done); the refusal path (UDP 88 refused: manual forwards shown);
  profiles. Screenshots of each page at 360 px and desktop width go to
  SHOTS_DIR. Timings are printed as "measure: ..." lines.
"""
import json
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import (StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

URL, TOKEN, SHOTS, HS, LAN2, LAN1 = sys.argv[1:7]
PHONE = (360, 780)
DESKTOP = (1280, 900)
failures = 0


def ok(msg):
    print("  ok   " + msg, flush=True)


def bad(msg):
    global failures
    failures += 1
    print("  FAIL " + msg, flush=True)


def check(cond, msg):
    (ok if cond else bad)(msg)
    return cond


def measure(msg):
    print("  measure: " + msg, flush=True)


opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
          "--disable-dev-shm-usage", "--no-first-run",
          "--disable-background-networking", "--disable-component-update",
          "--disable-sync", "--disable-extensions",
          "--force-prefers-reduced-motion", "--hide-scrollbars"):
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver") \
    if hasattr(webdriver, "ChromeService") else None
if service is None:
    from selenium.webdriver.chrome.service import Service
    service = Service(executable_path="/usr/bin/chromedriver")
drv = webdriver.Chrome(service=service, options=opts)
wait = WebDriverWait(drv, 20)


def size(wh):
    drv.set_window_size(*wh)
    # the window's inner width is what the page lays out for
    inner = drv.execute_script("return window.innerWidth")
    if inner != wh[0]:
        drv.set_window_size(wh[0] + (wh[0] - inner), wh[1])


def shot(name):
    """The page at desktop and phone width: NAME-desktop.png, NAME-phone.png"""
    for label, wh in (("desktop", DESKTOP), ("phone", PHONE)):
        size(wh)
        drv.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.3)
        h = drv.execute_script(
            "return Math.min(4000, document.documentElement.scrollHeight)")
        drv.set_window_size(drv.get_window_size()["width"], max(wh[1], h))
        drv.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.2)
        drv.save_screenshot(os.path.join(SHOTS, "%s-%s.png" % (name, label)))
    size(DESKTOP)


def click(css, timeout=20):
    """Click the element css names, finding it again when the page has
    re-drawn it meanwhile (search-as-you-type re-renders its results)."""
    end = time.time() + timeout
    while True:
        try:
            e = WebDriverWait(drv, max(0.1, end - time.time())).until(
                EC.element_to_be_clickable((By.CSS_SELECTOR, css)))
            e.click()
            return
        except StaleElementReferenceException:
            if time.time() > end:
                raise
            time.sleep(0.1)


def attr(css, name):
    for _ in range(50):
        try:
            return drv.find_element(By.CSS_SELECTOR, css).get_attribute(name)
        except StaleElementReferenceException:
            time.sleep(0.1)
    return None


def visible(id_):
    return wait.until(EC.visibility_of_element_located((By.ID, id_)))


def text_in(id_, s, timeout=20):
    try:
        WebDriverWait(drv, timeout).until(
            EC.text_to_be_present_in_element((By.ID, id_), s))
        return True
    except TimeoutException:
        return False


try:
    size(DESKTOP)
    drv.get(URL)
    visible("token")
    check(not drv.find_element(By.ID, "nav").is_displayed(),
          "not logged in: the login form, no navigation shown")
    shot("login")

    # wrong token first: an error in words, still on the login form
    drv.find_element(By.ID, "token").send_keys("0" * 64, Keys.ENTER)
    check(text_in("login-error", "wrong token"), "wrong token refused")

    t0 = time.time()
    tok = drv.find_element(By.ID, "token")
    tok.clear()
    tok.send_keys(TOKEN, Keys.ENTER)
    visible("view-status")
    check(text_in("router", "answering"), "logged in: status shows the router")
    cookie = drv.get_cookie("np_session")
    check(cookie is not None and cookie.get("httpOnly") and
          cookie.get("sameSite") == "Strict",
          "session cookie is HttpOnly and SameSite=Strict")
    check(drv.execute_script("return document.cookie") == "",
          "the page's script cannot read the session cookie")

    # The status page's load time on the LAN (Navigation Timing): from the
    # navigation's start to the status drawn with the daemon's data (a mark
    # app.js sets), the median of 5 reloads (the first load warms up the
    # browser itself, not the daemon).
    loads = []
    for _ in range(5):
        drv.refresh()
        visible("view-status")
        WebDriverWait(drv, 10).until(lambda d: d.execute_script(
            "return performance.getEntriesByName('np-status-rendered')"
            ".length > 0"))
        loads.append(drv.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "const m = performance.getEntriesByName('np-status-rendered')[0];"
            "return [m.startTime, n.domContentLoadedEventEnd,"
            " (n.responseEnd - n.requestStart) + performance"
            "  .getEntriesByType('resource').filter(r => r.startTime <"
            "  m.startTime).reduce((a, r) => a + (r.responseEnd -"
            "  r.requestStart), 0),"
            " performance.getEntriesByType('resource').map(r =>"
            "  r.name.replace(/^.*\\//, '') + ' ' + r.startTime.toFixed(1) +"
            "  '-' + r.responseEnd.toFixed(1)).join(', ')];"))
    loads.sort()
    med = loads[len(loads) // 2]
    measure("status page load to the status drawn: median %.1f ms of %s "
            "(DOMContentLoaded %.1f ms; waiting for the daemon, every "
            "request from sent to answered, summed: %.1f ms; %s)"
            % (med[0], ["%.1f" % x[0] for x in loads], med[1], med[2],
               med[3]))
    # Chromium's own work dominates on a shared 2-core machine; the daemon's
    # part (under 50 ms) is asserted by test_web.sh with curl, which asks
    # for the same five things the page does.
    check(med[0] < 1000, "status page drawn within 1 s in the browser "
          "(%.1f ms)" % med[0])
    shot("status-empty")

    # ---- set-up for lan2 ----
    drv.find_element(By.ID, "nav-setup").click()
    visible("step-1")
    check(text_in("net-info", "answers"), "set-up 1: the router answers")
    drv.find_element(By.CSS_SELECTOR, "#step-1 button.next").click()
    visible("step-2")
    radio = wait.until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, "#dev-list input[value='%s']" % LAN2)))
    lab2 = drv.find_element(By.CSS_SELECTOR, "label[for='%s']"
                            % radio.get_attribute("id")).text
    check("Microsoft" in lab2 and "xbox" in lab2,
          "set-up 2: lan2 listed with its vendor hint (%s)" % lab2)
    shot("setup-device")
    radio.click()
    name = drv.find_element(By.ID, "dev-name")
    name.clear()
    name.send_keys("console")
    drv.find_element(By.ID, "dev-next").click()
    visible("step-3")
    check(drv.find_element(By.ID, "platform").get_attribute("value") == "xbox",
          "set-up 3: platform preset from the vendor hint")
    s = drv.find_element(By.ID, "game-search")
    s.send_keys("lab consle")  # a typo: the search forgives it
    game = "#game-results button[data-id='lab-console-game']"
    click(game)
    ok("set-up 3: search as you type finds the game despite a typo")
    check(attr(game, "aria-pressed") == "true",
          "set-up 3: the choice is announced (aria-pressed)")
    shot("setup-games")
    drv.find_element(By.ID, "games-next").click()
    visible("step-4")
    drv.find_element(By.ID, "diag-run").click()
    check(text_in("diag-out", "Moderate"),
          "set-up 4: diagnosis in the console's terms (Xbox Moderate)")
    shot("setup-diagnosis")
    drv.find_element(By.ID, "diag-next").click()
    visible("step-5")
    check(text_in("plan-out", "40100–40101"), "set-up 5: the plan lists the ports")
    shot("setup-plan")
    t_apply = time.time()
    drv.find_element(By.ID, "apply").click()
    visible("step-7")
    check(text_in("verify-out", "3 of 3 ports mapped", 30),
          "set-up 7: 3 of 3 ports mapped")
    measure("apply to verified: %.0f ms" % ((time.time() - t_apply) * 1000))
    check(text_in("before-after", "Open"), "set-up 7: after: Open")
    check(not drv.find_element(By.ID, "manual").is_displayed(),
          "set-up 7: no manual forwards shown (none needed)")
    shot("setup-result")
    with open(os.path.join(HS, "setup.done"), "w") as f:
        f.write("1")

    # ---- status after a router restart ----
    drv.get(URL + "#status")
    visible("view-status")
    wait.until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, "[data-device='console'] .held-count")))
    check(text_in("devices", "3 of 3"), "status: console 3 of 3 mapped")
    def restarts():
        return int(drv.execute_script(
            "const e = document.getElementById('restarts');"
            "return e ? e.textContent : '-1'"))
    before = restarts()
    shot("status")
    open(os.path.join(HS, "restart.request"), "w").close()
    deadline = time.time() + 60
    while not os.path.exists(os.path.join(HS, "restart.done")):
        if time.time() > deadline:
            break
        time.sleep(0.2)
    t_r = time.time()
    try:
        WebDriverWait(drv, 60).until(
            lambda d: restarts() > before)
        ok("status: the restart shows without a reload (%d -> %d)"
           % (before, restarts()))
        measure("router restart to the page showing it: %.0f ms"
                % ((time.time() - t_r) * 1000))
    except TimeoutException:
        bad("status: the router restart never showed")
    check(text_in("devices", "3 of 3", 60),
          "status: mappings back (3 of 3) after the restart")
    shot("status-after-restart")

    # ---- refusal path: UDP 88 is outside the router's allow 1024-65535 ----
    drv.get(URL + "#setup")
    drv.execute_script("location.reload()")
    visible("step-1")
    drv.find_element(By.CSS_SELECTOR, "#step-1 button.next").click()
    visible("step-2")
    a = drv.find_element(By.ID, "dev-address")
    a.clear()
    a.send_keys(LAN1)
    n = drv.find_element(By.ID, "dev-name")
    n.clear()
    n.send_keys("nas-pc")
    drv.find_element(By.ID, "dev-next").click()
    visible("step-3")
    drv.find_element(By.ID, "platform").send_keys("PC")
    drv.find_element(By.ID, "game-search").send_keys("low port")
    click("#game-results button[data-id='lab-low-port']")
    drv.find_element(By.ID, "games-next").click()
    visible("step-4")
    drv.find_element(By.ID, "diag-next").click()
    visible("step-5")
    text_in("plan-out", "88")
    drv.find_element(By.ID, "apply").click()
    visible("step-7")
    check(text_in("verify-out", "1 of 2 ports mapped", 30),
          "refusal: 1 of 2 ports mapped")
    check(text_in("verify-out", "Refused by the router"),
          "refusal: the refused port is named in words")
    visible("manual")
    check(text_in("manual-list", "UDP port 88"),
          "refusal: the manual forward for UDP 88 is shown")
    check("DMZ" in drv.find_element(By.ID, "manual").text,
          "refusal: the page says why not a DMZ")
    shot("setup-refused")

    # ---- profiles ----
    drv.find_element(By.ID, "nav-profiles").click()
    visible("view-profiles")
    drv.find_element(By.ID, "prof-search").send_keys("lab console")
    click("#prof-list button[data-id='lab-console-game']")
    check(text_in("prof-show", "natpilot lab fixture"),
          "profiles: a profile shows each rule's source")
    shot("profiles")

    # keyboard: the skip link is the first stop and leads to main
    drv.get(URL + "#status")
    visible("view-status")
    drv.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    check(drv.switch_to.active_element.text == "Skip to content",
          "keyboard: the first Tab stop is the skip link")
except Exception as e:  # any unexpected failure is a failure, with context
    bad("browser run stopped: %r" % e)
    try:
        drv.save_screenshot(os.path.join(SHOTS, "failure.png"))
    except Exception:
        pass
finally:
    drv.quit()
sys.exit(1 if failures else 0)
