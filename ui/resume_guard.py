"""A resumed session sends its new client nothing of what its previous connection's run had in flight.

Streamlit hands an existing session to any client that presents its id (and the same, empty,
identity). ui/access.py refuses a foreign browser on the first rerun it asks for, but messages the
previous connection's script run made before that rerun still reach the new client:
- those left in the session's outgoing queue when its browser left. Streamlit keeps a run's
  lifecycle messages (`page_info_changed`, `script_finished`, ...) when the next run starts, so they
  are flushed to whoever resumes;
- those the run's thread had handed to the event loop, landing after the new client is attached.
Seen in tests/test_browser_session_binding.py (ungated, about one run in four): the raw client
received the owner's `page_info_changed` with `?cohort=upload&patient_id=<her patient>` before its
own run refused it.

So when a connection resumes a session, its outgoing queue is emptied and every message is dropped
until a run the new client asked for starts (the first `new_session` after its rerun request): that
run passes ui/access.py's check or is refused there. Answers to the new client's own requests (an
upload's URLs, a download, a heartbeat) still pass; an answer to a request of the previous
connection does not (found by an adversarial pass: the owner's deferred download, asked for just
before a takeover, reached the newcomer as a /media URL that fetched her file). Nothing is lost for the owner's own browser: a
frontend that reconnects while a run is under way asks for a rerun, which draws the page again; one
that reconnects to an idle page keeps it, and its next click is a rerun.
serve.py's gate keeps foreign browsers from resuming at all; this closes the window where it is not
in front (`streamlit run dashboard.py`), and costs nothing where it is.

It reaches into Streamlit (1.67): `Runtime.connect_session`, `AppSession._browser_queue`,
`AppSession._enqueue_forward_msg` and `AppSession.handle_backmsg`. tests/test_resume_guard.py (raw
clients) and tests/test_browser_reconnect.py (the owner's browser reconnecting) fail if they change.
"""

from __future__ import annotations

import inspect
import logging
import threading

from streamlit import runtime
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.runtime import Runtime

log = logging.getLogger("icans.resume_guard")

_INSTALLED = "_icans_resume_guard"
# While muted, an answer passes only to a request the new connection itself sent, matched by the
# request's id where it has one: the owner's download asked for before the takeover is not handed to
# the newcomer (its answer names a /media URL that is enough to fetch her file without serve.py).
# The frontend makes a backend operation's id at random (a UUID), so the newcomer cannot ask under hers.
_ANSWER_IDS = {"file_urls_request": ("file_urls_response", "request_id", "response_id"),
               "backend_operation_request": ("backend_operation_response", "request_id", "request_id")}
_ANSWER_COUNTS = {"app_heartbeat": "heartbeat_ack", "load_git_info": "git_info_changed"}
_ANSWER_ID_FIELDS = {answer: field for answer, _, field in _ANSWER_IDS.values()}  # answer type -> its id field
_lock = threading.Lock()


def install() -> None:
    """Guard every session this server resumes from now on (idempotent; a no-op without a server)."""
    if not runtime.exists():
        return  # AppTest, `python dashboard.py`: no websocket, nothing to resume
    instance = runtime.get_instance()
    with _lock:
        if getattr(instance, _INSTALLED, False):
            return
        connect = instance.connect_session
        parameters = inspect.signature(Runtime.connect_session)

        def connect_session(*args, **kwargs):
            session_id = connect(*args, **kwargs)
            asked = parameters.bind(instance, *args, **kwargs).arguments.get("existing_session_id")
            if asked and session_id == asked:
                session = instance.get_app_session(session_id)
                if isinstance(session, AppSession):
                    mute_until_next_run(session)
            return session_id

        instance.connect_session = connect_session
        setattr(instance, _INSTALLED, True)


def mute_until_next_run(session: AppSession) -> None:
    """Empty `session`'s outgoing queue and drop what it sends until a run the new client asked for starts.

    Runs on the event loop, where Streamlit connects sessions, flushes their queues, handles what a
    client sends and hands on what script threads send: nothing is flushed between the emptying and
    the muting, and these steps happen in the order the loop runs them.

    A run of the previous connection may start (its `new_session`) after the resume, before the new
    client's rerun request is handled: only a `new_session` after that request ends the muting. A run
    starting then takes the new client's rerun data, so it is checked against the new client."""
    session._browser_queue.clear()  # everything, lifecycle messages too: they are the old run's
    enqueue = AppSession._enqueue_forward_msg.__get__(session)
    handle = AppSession.handle_backmsg.__get__(session)
    asked = threading.Event()
    lock = threading.Lock()
    answers: set[tuple[str, str]] = set()  # (answer type, request id) the new connection asked for
    counts = dict.fromkeys(_ANSWER_COUNTS.values(), 0)  # answers without an id, by how many were asked

    def handle_backmsg(msg) -> None:
        kind = msg.WhichOneof("type")
        with lock:
            if kind == "rerun_script":
                asked.set()
            elif kind in _ANSWER_IDS:
                answer, field, _ = _ANSWER_IDS[kind]
                answers.add((answer, getattr(getattr(msg, kind), field)))
            elif kind in _ANSWER_COUNTS:
                counts[_ANSWER_COUNTS[kind]] += 1
        handle(msg)

    def its_own_answer(msg, kind: str) -> bool:
        with lock:
            if kind in counts and counts[kind] > 0:
                counts[kind] -= 1
                return True
            field = _ANSWER_ID_FIELDS.get(kind)
            return field is not None and (kind, getattr(getattr(msg, kind), field)) in answers

    def muted(msg) -> None:
        kind = msg.WhichOneof("type")
        if its_own_answer(msg, kind):
            enqueue(msg)
            return
        if not (asked.is_set() and kind == "new_session"):
            return  # the previous connection's run, or an answer to its request: not for this client
        del session._enqueue_forward_msg, session.handle_backmsg  # the class's own methods again
        enqueue(msg)

    session.handle_backmsg = handle_backmsg
    session._enqueue_forward_msg = muted
    log.info("a session was resumed by a new connection; its previous run's messages are dropped")
