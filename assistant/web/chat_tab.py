"""The Chat tab: the merchant asks in words, the assistant answers with verified numbers.

Use::

    from assistant.web.chat_tab import chat_tab
    with gr.Blocks(), gr.Tabs():
        chat_tab(service, agent)            # renders the tab (inside build_ui's tab bar)

    from gradio_client import Client       # the same conversation, programmatically
    c = Client("http://127.0.0.1:8000/ui/")
    c.predict("price B07JW9H4J1, my cost is 900", api_name="/chat")   # -> the new reply (Markdown)
    c.predict("why?", api_name="/chat")                               # a follow-up, same session

Each browser (and each ``gradio_client.Client``) session has its own :class:`ChatSession` in a
``gr.State``: its rules, the product in context, the last suggestion. Replies stream; every
number in them comes from a verified fact sheet (:mod:`assistant.chat.agent`). Thumbs on a
reply, or the buttons under the chat, store feedback with the suggestion's id.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import gradio as gr

from assistant.chat import ChatAgent, ChatSession
from assistant.web.feedback import save_feedback

if TYPE_CHECKING:
    from assistant.service import PricingService
    from assistant.web.login import UiLogin

log = logging.getLogger(__name__)

FAILED = "Sorry — something went wrong while answering; please try again."


def chat_turn(agent: ChatAgent, text: str, session: ChatSession) -> Iterator[str]:
    """One turn: append the message and the reply to ``session.messages`` and yield the reply
    as it grows (the last item is the complete reply). A failure becomes an apology, logged."""
    session.messages.append({"role": "user", "content": text})
    session.messages.append({"role": "assistant", "content": ""})
    idx = len(session.messages) - 1
    try:
        for partial in agent.respond(text, session):
            session.messages[idx]["content"] = partial
            yield partial
    except Exception:  # show a clear failure instead of a silent broken turn
        log.exception("chat reply failed")
        session.messages[idx]["content"] = FAILED
        yield FAILED
        return
    reply = session.last_reply
    if reply is not None and reply.suggestion_id:
        session.suggestion_at[idx] = reply.suggestion_id


def _session(state: ChatSession | None) -> ChatSession:
    return state if isinstance(state, ChatSession) else ChatSession()


def chat_tab(service: PricingService, agent: ChatAgent, login: UiLogin | None = None) -> None:
    """Render the Chat tab (inside a ``gr.Tabs``). login: the signed-in user applies prices
    through the chat ("apply it") under their own name and only with a key that may apply."""

    def signed(session: ChatSession, request: gr.Request | None) -> ChatSession:
        user = login.user(request) if login is not None else None
        if user is not None:
            session.actor = user.actor
            session.not_allowed = None if user.may("apply") else (
                f"signed in as {user.name} ({user.role}), who may not apply prices")
        return session

    def submit(message: str, state: ChatSession | None, request: gr.Request):
        session = signed(_session(state), request)
        text = (message or "").strip()
        if text:
            for _ in chat_turn(agent, text, session):
                yield session.messages, session, ""
        yield session.messages, session, ""

    def chat(message: str, state: ChatSession | None, request: gr.Request):
        """Send one chat message; answers the assistant's new reply (Markdown), streamed."""
        session = signed(_session(state), request)
        text = (message or "").strip()
        if not text:
            yield "Ask about a product: a title, a catalog id, or a follow-up such as *why?*", session
            return
        for partial in chat_turn(agent, text, session):
            yield partial, session

    def like(state: ChatSession | None, comment: str, data: gr.LikeData):
        if not isinstance(state, ChatSession):
            return "There is no suggestion to rate yet."
        idx = data.index if isinstance(data.index, int) else data.index[0]
        sid = state.suggestion_at.get(idx)
        if sid is None:
            return "That message has no price suggestion to rate."
        return save_feedback(service.store, sid, data.liked in (True, "Like"), comment)

    def feedback(liked: bool):
        def fn(state: ChatSession | None, comment: str):
            sid = None
            if isinstance(state, ChatSession) and state.suggestion is not None:
                sid = state.suggestion.suggestion_id
            return save_feedback(service.store, sid, liked, comment), ""
        return fn

    def clear():
        return [], ChatSession(), "", ""

    with gr.Tab("Chat", id="chat"):
        chat_state = gr.State(None)
        chatbot = gr.Chatbot(label="Assistant", height=600, elem_id="chat",
                             feedback_options=("Like", "Dislike"),
                             placeholder="Ask: *what should I charge for boAt Rockerz 450 "
                                         "headphones? my cost is 900* — or give a product id.")
        with gr.Row():
            msg = gr.Textbox(show_label=False, label="message", scale=8, elem_id="chat-input", lines=1,
                             placeholder="Describe a product, give its id, or ask a follow-up "
                                         "(why? · what if I charge … · show competitors)")
            send = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
        with gr.Row(elem_classes="feedback-row"):
            chat_comment = gr.Textbox(label="Comment on the last suggestion (optional)", scale=6,
                                      elem_id="chat-comment")
            chat_up = gr.Button("✓ Good suggestion", scale=1, elem_id="chat-up")
            chat_down = gr.Button("✗ Not right", scale=1, elem_id="chat-down")
            new_chat = gr.Button("New chat", scale=1, elem_id="chat-clear")
        chat_status = gr.Markdown(elem_id="chat-feedback-status", line_breaks=True)
        # The API's `/chat` answers the new reply only (the UI's events redraw the whole
        # history): Gradio's own ChatInterface pattern, a hidden button and a hidden output.
        api_trigger = gr.Button(visible=False, elem_id="chat-api")
        api_reply = gr.Markdown(visible=False, label="reply")

        private = {"api_visibility": "private"}
        gr.on([send.click, msg.submit], submit, [msg, chat_state], [chatbot, chat_state, msg], **private)
        api_trigger.click(chat, [msg, chat_state], [api_reply, chat_state], api_name="chat")
        chatbot.like(like, [chat_state, chat_comment], [chat_status], **private)
        chat_up.click(feedback(True), [chat_state, chat_comment], [chat_status, chat_comment], **private)
        chat_down.click(feedback(False), [chat_state, chat_comment], [chat_status, chat_comment], **private)
        new_chat.click(clear, None, [chatbot, chat_state, msg, chat_status], **private)
