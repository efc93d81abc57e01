"""Progress as a client reads it: sampling steps, not model evaluations (a
30-step PNDM job, the tiny model's scheduler, reports 30, not its 31
evaluations); the total is known as soon as the job runs, before its first
step ends; elapsed_seconds moves between steps; and OpenAI partial images
say the size of the PNG they carry."""
import time

from conftest import TIMEOUT, sse_events

# One evaluation at this size takes minutes on the tiny model (its attention
# runs over every latent pixel): a job stays inside its first step while the
# test looks at it, on any machine.
BIG = 768


def test_30_steps_report_30(server):
    job = server.submit(steps=30)
    with server.get("/v1/jobs/%s/events" % job["id"], stream=True) as r:
        steps = [data for name, data in sse_events(r) if name == "step"]
    assert steps, "no step event"
    assert {s["total"] for s in steps} == {30}, steps
    assert steps[-1]["step"] == 30


def wait_progress(server, job_id):
    """The job's progress once it reports one (it runs)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        job = server.get("/v1/jobs/" + job_id).json()
        if job["state"] == "running" and job["progress"] and job["progress"]["total"]:
            return job["progress"]
        assert time.monotonic() < deadline, "no progress total: %s" % job
        time.sleep(0.05)


def test_total_before_the_first_step_and_elapsed_moves(make_server):
    s = make_server()
    job = s.submit(steps=3, width=BIG, height=BIG)
    first = wait_progress(s, job["id"])
    assert first["step"] == 0 and first["total"] == 3, first
    time.sleep(1.5)
    second = s.get("/v1/jobs/" + job["id"]).json()["progress"]
    assert second["step"] == 0, "the first step ended: BIG is too small here"
    assert second["elapsed_seconds"] >= first["elapsed_seconds"] + 1.0, (first, second)
    a1111 = s.get("/sdapi/v1/progress", params={"id_task": job["id"]}).json()
    assert a1111["state"]["sampling_steps"] == 3 and a1111["state"]["sampling_step"] == 0
    assert s.post("/v1/jobs/%s/cancel" % job["id"]).status_code == 202
    s.wait_state(job["id"], ["cancelled"])
