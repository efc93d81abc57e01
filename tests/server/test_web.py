"""The web page at / (src/server/web/index.html), driven in headless Chromium
through Selenium: it loads cleanly with its lists filled from the server,
generates an image with the tiny model and shows it with its parameters (in
the result panel and the gallery), shows TAESD previews live, and asks for an
API key when the server needs one.

Needs Debian's chromium and chromium-driver (scripts/install-deps.sh installs
them; the tests skip without them). Selenium is given /usr/bin/chromedriver,
so it downloads nothing. Screenshots go to $DF_ARTIFACTS_DIR when set, else
the test's tmp dir; their paths are printed (pytest -s or -rA shows them).

One browser serves the whole module; each test opens its page on a clean
origin (local and session storage cleared), so no key or job id leaks from
one test into another even when a port is reused."""
import os
import subprocess

import pytest

from conftest import BINARY, TIMEOUT

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = os.environ.get("DF_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DF_CHROMEDRIVER", "/usr/bin/chromedriver")
MODEL_NAME = "tiny-sd1"  # the bundled tiny model's directory name


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip("no %s: install chromium and chromium-driver "
                    "(scripts/install-deps.sh does)" % " and ".join(missing))
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    driver.set_script_timeout(TIMEOUT)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=TIMEOUT, message=""):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message)


def js(driver, script, *args):
    return driver.execute_script(script, *args)


def open_page(driver, url):
    """Opens the page with this origin's storage empty, and drops older logs."""
    driver.get(url + "/healthz")  # same origin, no script: clear its storage here
    js(driver, "localStorage.clear(); sessionStorage.clear();")
    driver.get_log("browser")
    driver.get(url + "/")


def severe_logs(driver, allow=()):
    """Console errors (JS exceptions, failed loads) but those containing a
    string in `allow`."""
    return [e for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not any(a in e["message"] for a in allow)]


def models_loaded(driver):
    return js(driver, "return [...document.querySelectorAll('#model option')]"
                      ".map(o => o.value).filter(Boolean)") or None


def screenshot(driver, tmp_path, name):
    """The whole page (the window grown to its height), saved as `name`."""
    folder = os.environ.get("DF_ARTIFACTS_DIR") or str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    size = driver.get_window_size()
    height, chrome = js(driver, "return [document.documentElement.scrollHeight, "
                                "window.outerHeight - window.innerHeight]")
    driver.set_window_size(size["width"], min(max(height + chrome, size["height"]), 4000))
    try:
        assert driver.save_screenshot(path), path
    finally:
        driver.set_window_size(size["width"], size["height"])
    print("screenshot:", path)
    return path


def fill(driver, **fields):
    for name, value in fields.items():
        element = driver.find_element(By.ID, name)
        if element.tag_name == "select":
            Select(element).select_by_value(str(value))
        else:
            element.clear()
            element.send_keys(str(value))


def generate(driver, **fields):
    """Fills the form, submits, waits for the job's image in the result panel;
    returns the job id and the image's natural size."""
    fill(driver, **fields)
    driver.find_element(By.ID, "generate").click()
    wait(driver, lambda d: js(d, "return document.body.dataset.state") == "running",
         message="the page did not start a job")
    try:
        size = wait(driver, lambda d: js(d, """
            const img = document.querySelector('#result-images img');
            return document.body.dataset.state === 'idle' && img && img.complete &&
                   img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight] : null;"""))
    except TimeoutException:
        pytest.fail("no decoded result image; the page says: %r, error: %r" % tuple(js(
            driver, "return ['job-status', 'form-error'].map(i => "
                    "document.getElementById(i).textContent)")))
    job_id = js(driver, "return document.getElementById('result').dataset.jobId")
    return job_id, size


def test_page_loads(make_server, browser):
    server = make_server()
    r = server.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob:" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "http://" not in r.text and "https://" not in r.text  # no external assets

    open_page(browser, server.url)
    assert wait(browser, models_loaded) == [MODEL_NAME]
    wait(browser, lambda d: js(d, "return document.body.dataset.loaded") == "true")
    for field in ("prompt", "negative_prompt", "width", "height", "steps", "sampler", "seed",
                  "model", "guidance_scale", "generate"):
        assert browser.find_element(By.ID, field).is_displayed(), field
    samplers = js(browser, "return [...document.querySelectorAll('#sampler option')]"
                           ".map(o => o.value)")
    assert "" in samplers and "Euler a" in samplers and "DPM++ 2M Karras" in samplers
    assert not browser.find_element(By.ID, "key-dialog").is_displayed()
    assert not browser.find_element(By.ID, "notice").is_displayed()
    assert not browser.find_element(By.ID, "bundled-note").is_displayed()  # not shapes-128
    assert severe_logs(browser) == []

    # A narrow screen: one column, nothing wider than the window.
    browser.set_window_size(390, 844)
    try:
        assert js(browser, "return document.documentElement.scrollWidth <= window.innerWidth")
        form, result = (browser.find_element(By.ID, i).rect for i in ("generate-form", "result"))
        assert result["y"] >= form["y"] + form["height"]
    finally:
        browser.set_window_size(1280, 1000)


def test_bundled_model_says_what_it_draws(make_server, browser):
    # On the bundled trained model the page says what it can draw, how to
    # serve a real checkpoint, and offers example prompts that fill the form.
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models",
                           "shapes-128")
    server = make_server(["-m", bundled])
    open_page(browser, server.url)
    assert wait(browser, models_loaded) == ["shapes-128"]
    note = browser.find_element(By.ID, "bundled-note")
    wait(browser, lambda d: note.is_displayed(), message="no note on the bundled model")
    assert "circles" in note.text and "diffuse serve -m" in note.text
    examples = note.find_elements(By.CSS_SELECTOR, "button.example")
    assert len(examples) >= 2
    examples[1].click()
    assert browser.find_element(By.ID, "prompt").get_attribute("value") == examples[1].text
    assert severe_logs(browser) == []


def test_generate_shows_result_and_gallery(make_server, browser, tmp_path):
    server = make_server()  # no --taesd: the page must do without previews
    open_page(browser, server.url)
    wait(browser, models_loaded)
    prompt = "a web page test, red square"
    job_id, size = generate(browser, prompt=prompt, width=32, height=32, steps=4, seed=1234,
                            sampler="Euler")
    assert size == [32, 32]
    job = server.get("/v1/jobs/" + job_id).json()
    assert job["state"] == "completed"
    p = job["parameters"]
    assert (p["prompt"], p["width"], p["height"], p["steps"], p["seed"], p["sampler"],
            p["model"]) == (prompt, 32, 32, 4, 1234, "Euler", MODEL_NAME)
    params = browser.find_element(By.ID, "result-params").text
    for text in (prompt, "1234", "32 × 32", "Euler", MODEL_NAME):
        assert text in params, params

    card_img = "#gallery .card[data-job-id='%s'] img" % job_id
    wait(browser, lambda d: js(d, "const i = document.querySelector(arguments[0]);"
                                  "return i && i.complete && i.naturalWidth > 0", card_img),
         message="the job's image is not in the gallery")
    card = browser.find_element(By.CSS_SELECTOR, "#gallery .card[data-job-id='%s']" % job_id)
    for text in (prompt, "seed 1234", "32×32", "4 steps", "Euler", MODEL_NAME):
        assert text in card.text, card.text
    screenshot(browser, tmp_path, "web-ui.png")

    # A gallery card refills the form.
    fill(browser, prompt="something else", seed=1)
    card.click()
    assert browser.find_element(By.ID, "prompt").get_attribute("value") == prompt
    assert browser.find_element(By.ID, "seed").get_attribute("value") == "1234"

    # A refused request shows the server's message and marks the field. (The
    # form's own checks would stop 61 first: step 8; turn them off.)
    js(browser, "document.getElementById('generate-form').noValidate = true")
    fill(browser, width=61)
    browser.find_element(By.ID, "generate").click()
    error = wait(browser, lambda d: d.find_element(By.ID, "form-error").text or None)
    assert "width" in error and "multiple" in error, error
    assert browser.find_element(By.ID, "width").get_attribute("aria-invalid") == "true"

    # Cancel stops a running job (150 steps at 64x64: seconds on the tiny model).
    fill(browser, width=64, height=64, steps=150)
    browser.find_element(By.ID, "generate").click()
    wait(browser, lambda d: d.find_element(By.ID, "progress-text").text.startswith("step"))
    browser.find_element(By.ID, "cancel").click()
    wait(browser, lambda d: js(d, "return document.body.dataset.state") == "idle")
    assert browser.find_element(By.ID, "job-status").text == "Cancelled"
    assert not browser.find_element(By.ID, "form-error").is_displayed()
    # The 400s are the refused size and the probe for previews (no --taesd).
    assert severe_logs(browser, allow=("status of 400",)) == []


def test_live_previews(server, browser, tmp_path):
    """With --taesd (the shared server), step events carry previews and the
    page shows them while the job runs. Not flaky by timing: the page asks for
    a preview every step at this step count (previewEvery), a slow reader gets
    the latest step event (so one with a preview), and the last one comes
    before "completed"; the page counts the previews it shows."""
    open_page(browser, server.url)
    wait(browser, models_loaded)
    # The model's default size (16): 64x64 costs 16 times as much a step.
    fill(browser, prompt="previews", steps=30)
    browser.find_element(By.ID, "generate").click()
    # Seen live when the poll is quick enough; the count below is what counts.
    seen = wait(browser, lambda d: js(d, """
        const p = document.getElementById('preview');
        if (p.offsetWidth > 0 && p.complete && p.naturalWidth > 0) return 'preview';
        return document.body.dataset.state === 'idle' ? 'ended' : null;"""))
    if seen == "preview":
        assert js(browser, "return document.getElementById('preview').src"
                  ).startswith("data:image/png;base64,")
    wait(browser, lambda d: js(d, "return document.body.dataset.state") == "idle")
    previews = int(js(browser, "return document.getElementById('result').dataset.previews"))
    print("previews shown: %d, one seen live: %s" % (previews, seen == "preview"))
    assert previews >= 1
    assert browser.find_element(By.ID, "job-status").text == "Done"
    # The final image replaces the preview.
    assert not browser.find_element(By.ID, "preview").is_displayed()
    assert js(browser, "const i = document.querySelector('#result-images img');"
                       "return i && i.naturalWidth > 0")
    screenshot(browser, tmp_path, "web-ui-previews.png")
    assert severe_logs(browser) == []


def create_key(data):
    """`diffuse keys create`'s key, or a skip while the binary has no keys."""
    result = subprocess.run([BINARY, "keys", "create", "--name", "web-test", "--data", str(data)],
                            capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode and "unknown command" in result.stderr:
        pytest.skip("this binary has no `diffuse keys` command yet")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].strip()


def test_api_key_prompt(make_server, browser, tmp_path):
    key = create_key(tmp_path)
    server = make_server(data=tmp_path)
    if server.get("/v1/models").status_code != 401:
        pytest.skip("this server does not check API keys yet (/v1/models answers without one)")
    open_page(browser, server.url)  # the page itself is public

    dialog_open = "return document.getElementById('key-dialog').open"
    wait(browser, lambda d: js(d, dialog_open), message="no key prompt")
    assert browser.find_element(By.ID, "key-message").text  # the server's message
    # A wrong key is refused: the prompt comes back.
    browser.find_element(By.ID, "key-input").send_keys("dfk_000000000000_wrong")
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    wait(browser, lambda d: js(d, dialog_open) and
         js(d, "return document.getElementById('key-input').value") == "",
         message="a wrong key was not refused")
    browser.find_element(By.ID, "key-input").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    assert wait(browser, models_loaded) == [MODEL_NAME]
    assert not js(browser, dialog_open)
    assert js(browser, "return localStorage.getItem('diffuse_api_key')") == key

    job_id, size = generate(browser, prompt="with a key", width=32, height=32, steps=2)
    assert size == [32, 32]
    screenshot(browser, tmp_path, "web-ui-key.png")

    forget = browser.find_element(By.ID, "forget-key")
    assert forget.is_displayed()
    forget.click()
    assert js(browser, "return localStorage.getItem('diffuse_api_key')") is None
    assert not forget.is_displayed()


def test_lora_picker(make_server, browser, tmp_path):
    """With --lora-dir the page offers its LoRAs: one added with a scale is
    sent as "loras", shown with the result, and a gallery card brings it
    back; without --lora-dir the picker stays hidden."""
    from test_lora import FILES, FIXTURES  # the LoRA fixtures, found as test_lora finds them
    if FIXTURES is None:
        pytest.skip("no LoRA fixtures: tests/fixtures/lora/ (or DF_LORA_FIXTURES) holds none")
    import shutil
    loras = tmp_path / "loras"
    loras.mkdir()
    shutil.copy(os.path.join(FIXTURES, FILES["style"]), loras / "style.safetensors")
    shutil.copy(os.path.join(FIXTURES, FILES["loha"]), loras / "loha.safetensors")
    data = tmp_path / "data"
    data.mkdir()
    server = make_server(["--lora-dir", str(loras)], data=data)
    open_page(browser, server.url)
    wait(browser, models_loaded)
    wait(browser, lambda d: d.find_element(By.ID, "lora-fields").is_displayed(),
         message="the LoRA picker is hidden")
    names = js(browser, "return [...document.querySelectorAll('#lora-name option')]"
                        ".map(o => o.value)")
    assert names == ["loha", "style"]
    fill(browser, **{"lora-name": "style", "lora-scale": "0.7"})
    browser.find_element(By.ID, "lora-add").click()
    assert "style × 0.7" in browser.find_element(By.ID, "lora-list").text
    job_id, _ = generate(browser, prompt="a lora test", steps=3, seed=5)
    job = server.get("/v1/jobs/" + job_id).json()
    assert job["parameters"]["loras"] == [{"name": "style", "scale": 0.7}]
    assert "style × 0.7" in browser.find_element(By.ID, "result-params").text
    # Removed, then brought back by the job's gallery card.
    browser.find_element(By.CSS_SELECTOR, "#lora-list button").click()
    assert browser.find_element(By.ID, "lora-list").text == ""
    card = "#gallery .card[data-job-id='%s']" % job_id
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, card),
         message="the job is not in the gallery")
    browser.find_element(By.CSS_SELECTOR, card).click()
    assert "style × 0.7" in browser.find_element(By.ID, "lora-list").text
    assert severe_logs(browser, allow=("status of 400",)) == []

    plain = make_server(data=tmp_path)
    open_page(browser, plain.url)
    wait(browser, models_loaded)
    wait(browser, lambda d: js(d, "return document.body.dataset.loaded") == "true")
    assert not browser.find_element(By.ID, "lora-fields").is_displayed()
