"""The ZenML dashboard as a person sees it: headless Chromium (Debian's, driven by Playwright, no
browser download) opens a finished training run and its model card, evaluation and SHAP views."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import BUNDLED_ADULT, PROJECT_ROOT
from tests.e2e.conftest import QUICK, run_cli

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = PROJECT_ROOT / "test-output" / "dashboard"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def finished_run(session_dir: Path) -> str:
    import pandas as pd

    run_cli("stacks")
    path = session_dir / "adult_dashboard.csv"
    pd.read_csv(BUNDLED_ADULT).sample(n=3000, random_state=21).to_csv(path, index=False)
    return str(run_cli("train", "--data", str(path), "--target", "income", *QUICK)["zenml_run_id"])


def _open_visualization(page, artifact: str) -> str:
    """Click an artifact in the run's graph, open its Visualization tab, load it; return its text."""
    node = page.get_by_text(artifact, exact=True).first
    node.wait_for(timeout=60_000)
    node.click()
    page.get_by_role("tab", name="Visualization").click()
    load = page.get_by_role("button", name="Load Preview")
    load.wait_for(timeout=30_000)
    load.click()
    page.wait_for_timeout(2500)
    texts = [page.inner_text("body")]
    for frame in page.frames[1:]:
        try:
            texts.append(frame.content())
        except Exception:  # noqa: BLE001 - a frame that went away
            continue
    page.screenshot(path=str(SCREENSHOTS / f"{artifact}.png"))
    page.keyboard.press("Escape")
    return "\n".join(texts)


def test_dashboard_shows_run_steps_and_visualizations(zenml_server: str, finished_run: str) -> None:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    # The local server asks a new user to fill in a survey first; answer it through the API.
    response = httpx.put(
        f"{zenml_server}/api/v1/current-user",
        json={
            "email_opted_in": False,
            "user_metadata": {"finished_onboarding_survey": True, "awareness_channels": ["cli"]},
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.goto(f"{zenml_server}/projects/default/runs/{finished_run}", wait_until="domcontentloaded")
        page.get_by_text("write_model_card", exact=True).first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        assert "completed" in body and finished_run in body
        for step in (
            "load_dataset",
            "validate_dataset",
            "train_model",
            "evaluate_model",
            "explain_model",
            "promote_model",
            "write_model_card",
        ):
            assert page.get_by_text(step, exact=True).count() >= 1, f"step {step} not shown"
        page.screenshot(path=str(SCREENSHOTS / "run.png"), full_page=True)

        card = _open_visualization(page, "model_card")
        assert "Model card:" in card and "Promotion gates" in card and "Lineage" in card
        evaluation = _open_visualization(page, "evaluation_report")
        assert "confusion matrix" in evaluation and "roc curve" in evaluation
        shap = _open_visualization(page, "shap_report")
        assert "SHAP explanation" in shap and "shap summary" in shap
        browser.close()
    assert (SCREENSHOTS / "model_card.png").stat().st_size > 10_000
