"""Loading, error and empty states, and a panel that follows runs, tags and steps appearing
while it is open, in headless Chromium against real `tensorboard` processes."""

import json
import urllib.parse

import pytest

from tests.helpers.eventfiles import write_steps, write_unreadable_run
from tests.helpers.http import BASE
from tests.helpers.panel_logs import SEED_TAG

pytestmark = pytest.mark.browser


def served_tags(tb):
    return {run: sorted(tags) for run, tags in tb.get_json(BASE + "/tags")["runs"].items()}


def served_step_list(tb, run, tag):
    query = urllib.parse.urlencode({"run": run, "tag": tag})
    return [s["step"] for s in tb.get_json(BASE + "/steps?" + query)["steps"]]


def test_error_state_inside_the_panel(panel):
    page = panel.page
    # A layer the server cannot serve: its JSON error must show in the panel, not in a console.
    page.route(
        "**/layer?*",
        lambda route: route.fulfill(
            status=422,
            content_type="application/json",
            body=json.dumps({"error": "stored attention record cannot be read: test"}),
        ),
    )
    panel.open("run=finetune")
    assert "stored attention record cannot be read" in page.inner_text(".status.error")
    panel.errors = [e for e in panel.errors if "422" not in e]  # the browser logs the failed fetch itself


def test_empty_state_shows_how_to_log(panel_factory, tmp_path, tensorboard):
    empty = tensorboard(tmp_path)
    p = panel_factory(empty)
    page = p.open()
    code = page.inner_text(".empty pre")
    assert 'writer = SummaryWriter("runs/x")' in code
    assert "out = model(**batch, output_attentions=True)" in code
    assert 'tb_attention.add_attention(writer, "probe", out.attentions, tokens, global_step=step)' in code
    # The panel fetches the first view's modules while it loads: let them land before this
    # test's TensorBoard stops (a request cut off by the stop would log a console error).
    page.wait_for_load_state("networkidle")


def test_first_run_without_readable_steps_keeps_run_and_tag_selectable(panel_factory, tmp_path, tensorboard):
    # "a_bad" sorts first and its only record's header is not JSON: the panel opens on it.
    write_unreadable_run(tmp_path / "a_bad", "p")
    write_steps(tmp_path / "b_good", "p", [0, 5])
    tb = tensorboard(tmp_path)
    tb.wait_for(
        lambda: served_tags(tb) == {"a_bad": ["p"], "b_good": ["p"]} and served_step_list(tb, "b_good", "p") == [0, 5]
    )
    assert served_step_list(tb, "a_bad", "p") == []
    panel = panel_factory(tb)
    page = panel.open_until("", "() => { const s = document.querySelector('.status.error'); return s && !s.hidden; }")
    assert page.inner_text(".status.error") == "a_bad / p has no readable steps."
    assert panel.options(".run-select") == ["a_bad", "b_good"]
    assert panel.options(".tag-select") == ["p"]
    assert page.input_value(".run-select") == "a_bad"
    assert page.is_visible(".run-select") and page.is_visible(".tag-select")
    assert page.locator(".head-view").count() == 0
    # The user switches to the readable run: it draws.
    panel.after(lambda: page.select_option(".run-select", "b_good"))
    assert panel.attr(".head-view", "data-step") == "5"
    assert page.inner_text(".step-label") == "step 5 \u00b7 2/2"
    assert page.is_hidden(".status")
    # And back: the message again, with the selects still there.
    panel.after(lambda: page.select_option(".run-select", "a_bad"))
    assert page.inner_text(".status.error") == "a_bad / p has no readable steps."
    assert panel.options(".run-select") == ["a_bad", "b_good"]
    assert page.locator(".head-view").count() == 0
    page.wait_for_load_state("networkidle")  # (see test_empty_state_shows_how_to_log)
    assert panel.errors == [] and panel.dialogs == []


def test_failing_steps_request_keeps_run_and_tag_selectable(panel):
    page = panel.page
    # "baseline" sorts first; its /steps fails on the server.
    page.route(
        "**/steps?*run=baseline*",
        lambda route: route.fulfill(
            status=500, content_type="application/json", body=json.dumps({"error": "test failure"})
        ),
    )
    panel.open_until("", "() => { const s = document.querySelector('.status.error'); return s && !s.hidden; }")
    assert page.inner_text(".status.error").startswith(f"Cannot load steps of baseline / {SEED_TAG}")
    assert panel.options(".run-select") == ["baseline", "finetune", "hostile", "long"]
    assert panel.options(".tag-select") == [SEED_TAG]
    panel.after(lambda: page.select_option(".run-select", "finetune"))
    assert panel.attr(".head-view", "data-step") == "200"
    assert page.input_value(".run-select") == "finetune"
    panel.errors = [e for e in panel.errors if "500" not in e]  # the browser logs the failed fetch itself


def test_poll_shows_new_runs_and_tags(panel_factory, tmp_path, tensorboard):
    write_steps(tmp_path / "r1", "p", [0, 1])
    tb = tensorboard(tmp_path)
    tb.wait_for(lambda: served_step_list(tb, "r1", "p") == [0, 1])
    panel = panel_factory(tb)
    page = panel.page
    page.clock.install()  # time runs as usual; fast_forward reaches the 30 s poll at once
    panel.open("run=r1&tag=p&step=0")
    assert panel.options(".run-select") == ["r1"] and panel.options(".tag-select") == ["p"]
    renders = panel.renders()
    # While the page is open: a new run, and a new tag in the shown run (its shown tag keeps
    # its steps, so their count does not change).
    write_steps(tmp_path / "r2", "p", [0])
    write_steps(tmp_path / "r1", "q", [3])
    tb.wait_for(lambda: served_tags(tb) == {"r1": ["p", "q"], "r2": ["p"]})
    page.clock.fast_forward(panel.number(".tba", "data-poll-ms") + 1000)
    page.wait_for_function("() => document.querySelectorAll('.run-select option').length === 2", timeout=10000)
    assert panel.options(".run-select") == ["r1", "r2"]
    assert panel.options(".tag-select") == ["p", "q"]
    # The poll only refreshed the controls: same run, tag and step, no redraw.
    assert page.input_value(".run-select") == "r1" and page.input_value(".tag-select") == "p"
    assert page.inner_text(".step-label") == "step 0 \u00b7 1/2"
    assert panel.renders() == renders
    panel.after(lambda: page.select_option(".tag-select", "q"))
    assert panel.attr(".head-view", "data-step") == "3"
    panel.after(lambda: page.select_option(".run-select", "r2"))
    assert panel.attr(".head-view", "data-step") == "0"
    page.wait_for_load_state("networkidle")  # (see test_empty_state_shows_how_to_log)
    assert panel.errors == [] and panel.dialogs == []


def test_poll_shows_new_steps_when_sampling_keeps_their_count(panel_factory, tmp_path, tensorboard):
    # TensorBoard keeps one step per tag (always the latest): the count stays 1, the step changes
    # and the shown step is dropped.
    write_steps(tmp_path / "r1", "p", [0])
    tb = tensorboard(tmp_path, extra_args=["--samples_per_plugin=tb_attention=1"])
    tb.wait_for(lambda: served_step_list(tb, "r1", "p") == [0])
    panel = panel_factory(tb)
    page = panel.page
    page.clock.install()
    panel.open("run=r1&tag=p")
    assert page.inner_text(".step-label") == "step 0 \u00b7 1/1"
    write_steps(tmp_path / "r1", "p", [7])
    tb.wait_for(lambda: served_step_list(tb, "r1", "p") == [7])
    page.clock.fast_forward(panel.number(".tba", "data-poll-ms") + 1000)
    page.wait_for_function("() => document.querySelector('.head-view').dataset.step === '7'", timeout=10000)
    panel.idle()
    assert page.inner_text(".step-label") == "step 7 \u00b7 1/1"
    assert page.input_value(".step-slider") == "0"
    assert page.get_attribute(".step-slider", "max") == "0"
    assert page.is_hidden(".status")
    page.wait_for_load_state("networkidle")  # (see test_empty_state_shows_how_to_log)
    assert panel.errors == [] and panel.dialogs == []


def test_first_attention_appears_in_an_empty_panel(panel_factory, tmp_path, tensorboard):
    """Empty state, then a training run logs its first steps: the poll draws them."""
    tb = tensorboard(tmp_path)
    panel = panel_factory(tb)
    page = panel.page
    page.clock.install()
    panel.open()
    page.wait_for_selector(".empty")
    write_steps(tmp_path / "r1", "p", [0, 1])
    tb.wait_for(lambda: served_step_list(tb, "r1", "p") == [0, 1])
    page.clock.fast_forward(panel.number(".tba", "data-poll-ms") + 1000)
    page.wait_for_selector(".head-view[data-lines]", timeout=20000)
    assert page.query_selector(".empty") is None
    assert panel.options(".run-select") == ["r1"]
    assert panel.attr(".head-view", "data-step") == "1"
    page.wait_for_load_state("networkidle")  # (see test_empty_state_shows_how_to_log)
    assert panel.errors == [] and panel.dialogs == []
