"""Every example runs as documented: as a script, and the web page in a real headless Chromium."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_server import StudioServer, die_with_parent, loopback_env

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def run_example(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, env=loopback_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_agent_middleware_example() -> None:
    out = run_example("agent_middleware.py")
    assert [line[:5] for line in out.splitlines() if line.startswith("Q")] == ["Q1/3:", "Q2/3:", "Q3/3:"]
    assert "(questions ended: budget)" in out and "## Summary\nthree sentences for executives." in out


def test_subgraph_example() -> None:
    out = run_example("subgraph.py")
    assert "2 questions, ended by user_stop; approved: True" in out and "- Blameless, with a five-whys analysis." in out


def test_evaluate_agent_example() -> None:
    out = run_example("evaluate_agent.py")
    direct, asked = (line for line in out.splitlines() if line.startswith("max_turns="))
    assert direct.startswith("max_turns=0: checklist score 0.000 | 0 questions")
    score = float(asked.split("checklist score ")[1].split()[0])
    assert score > 0 and asked.endswith("errors 0") and "cited [" in out  # asking raised the score


@pytest.fixture(scope="module")
def server() -> Iterator[StudioServer]:
    pytest.importorskip("langgraph_api", reason="the studio extra (langgraph-cli[inmem]) is not installed")
    studio = StudioServer().start()
    try:
        yield studio
    finally:
        studio.stop()


def test_web_answer_example_with_the_sdk(server: StudioServer) -> None:
    out = run_example("web_answer.py", "--api", server.url, "--sdk")
    assert out.startswith("Q: ") and "A: Executives." in out and "- Executives." in out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("Chromium is not installed and `make browser` could not install it (chromium, chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER), popen_kw={"preexec_fn": die_with_parent})
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_web_page_in_headless_chromium(server: StudioServer, browser: Any, tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES))
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from web_answer import serve_page

    page = serve_page()
    try:
        browser.get(f"http://127.0.0.1:{page.server_address[1]}/index.html?api={server.url}")
        wait = WebDriverWait(browser, 30)

        def text(element_id: str) -> str:
            return browser.find_element(By.ID, element_id).text  # type: ignore[no-any-return]

        def answer(value: str) -> None:
            field = browser.find_element(By.ID, "answer")
            field.clear()
            field.send_keys(value)
            browser.find_element(By.ID, "send").click()

        browser.find_element(By.ID, "request").send_keys("Write an incident postmortem for the payments outage")
        browser.find_element(By.ID, "begin").click()
        wait.until(lambda _: text("question").startswith("Question 1 of at most 5: "))
        answer("   ")  # blank: the graph rejects it, the page says why and keeps the question
        wait.until(lambda _: "non-empty text" in text("error"))
        assert text("question").startswith("Question 1 of")
        answer("Blameless, with a five-whys analysis.")
        wait.until(lambda _: text("question").startswith("Question 2 of"))
        answer("Executives and the on-call team.")
        wait.until(lambda _: text("question").startswith("Question 3 of"))
        browser.find_element(By.ID, "stop").click()
        wait.until(lambda _: browser.find_element(By.ID, "draft").is_displayed())
        browser.save_screenshot(str(tmp_path / "web-page.png"))
        draft = text("draft")
        assert draft.startswith("# Write an incident postmortem for the payments outage")
        assert "- Blameless, with a five-whys analysis." in draft and "- Executives and the on-call team." in draft
        dialogue = [p.text for p in browser.find_elements(By.CSS_SELECTOR, "#dialogue p")]
        assert len(dialogue) == 5 and dialogue[2] == "Blameless, with a five-whys analysis." and not text("error")
    finally:
        page.shutdown()
