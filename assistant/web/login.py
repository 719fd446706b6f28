"""The login of ``/ui``: Gradio's auth against the server's API keys, and what each role may do.

Use::

    login = UiLogin(api_settings)                  # assistant.http.deps.ApiSettings (keys, roles)
    mount(app, service, path="/ui", login=login)   # gr.mount_gradio_app(..., auth=login.check)
    def handler(x, request: gr.Request):           # Gradio passes the request to any handler
        user = login.user(request)                 # User(name="ann", role="approver") or None
        user.may("approve"), user.actor            # True, "approver:ann"

Sign in with the API key's configured name as the user name and the key as the password
(``PRICING_API_KEYS=ann:<key>:approver``; a key configured without a name has the name
``key-<12 hex digits>`` the API logs show). The key's role decides what the tabs allow, the
same rights as the REST API (:mod:`assistant.http.deps`):

- ``merchant``: read the catalog, prices and graph; ask for suggestions; apply them (within
  the approval policy: bigger moves wait in the Approvals queue);
- ``curator``: the merchant's rights, and edit the knowledge graph (Curate tab, catalog upload);
- ``approver``: the merchant's rights, and approve or reject the changes that wait.

Every handler checks the right itself (a disabled button is only a hint: the Gradio API can be
called without it), and records the signed-in user as ``<role>:<name>``, as the API does.
Without keys (``pricing serve --no-auth``) there is no login: :meth:`UiLogin.user` answers
None and the tabs fall back to a typed name (and, when built with keys but no login, a typed
key). The header shows who is signed in, with a button to log out (``/ui/logout``).

Failed sign-ins are limited per client address and user name (:mod:`assistant.web.login_limit`,
installed by :func:`assistant.server.build_server`). Sessions are Gradio's: a random token per
sign-in in the server's memory, under a cookie whose name is random per process, so a restart
signs everyone out (Gradio offers no store to plug in; its ``auth_dependency`` would replace
its login altogether).
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import gradio as gr

Right = Literal["read", "suggest", "apply", "edit_graph", "approve"]
_BASE: frozenset[str] = frozenset({"read", "suggest", "apply"})
RIGHTS: dict[str, frozenset[str]] = {
    "merchant": _BASE,
    "curator": _BASE | {"edit_graph"},
    "approver": _BASE | {"approve"},
}
# What a refusal tells the user they need, per right.
NEEDS: dict[str, str] = {"edit_graph": "a curator", "approve": "an approver",
                         "apply": "a merchant, curator or approver"}


class NotAllowed(ValueError):
    """The signed-in user's role does not have the right an action needs."""


class KeyRing(Protocol):
    """What the login needs of the server's API settings (``ApiSettings``)."""

    auth_disabled: bool
    api_keys: Mapping[str, str]

    def authenticate(self, given: str) -> tuple[str, str] | None: ...

    def name_of(self, key: str) -> str: ...


@dataclass(frozen=True)
class User:
    """Who is signed in: the key's name and role."""

    name: str
    role: str

    @property
    def actor(self) -> str:
        """How history rows and the audit trail name this user (as the API does)."""
        return f"{self.role}:{self.name}"

    def may(self, right: Right | str) -> bool:
        return right in RIGHTS.get(self.role, frozenset())

    def require(self, right: Right | str) -> str:
        """The actor, or :class:`NotAllowed` naming the role that is needed."""
        if not self.may(right):
            raise NotAllowed(f"signed in as {self.name} ({self.role}): this needs "
                                  f"{NEEDS.get(right, 'another')} key — sign in with one")
        return self.actor


@dataclass
class UiLogin:
    """The UI's login over the server's keys (no login when ``keys.auth_disabled``)."""

    keys: KeyRing
    notice: str = ""  # a line for the sign-in page (the sign-in limit: assistant.server)
    _gates: list[tuple[Any, str]] = field(default_factory=list, repr=False)
    _banner: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.keys.auth_disabled and not self.keys.api_keys:
            raise ValueError("the UI has no API keys to sign in with: configure "
                             "PRICING_API_KEYS=name:key:role,... or serve it with --no-auth")
        self.roles = {self.keys.name_of(k): str(r) for k, r in self.keys.api_keys.items()}

    @property
    def enabled(self) -> bool:
        return not self.keys.auth_disabled

    def check(self, username: str, password: str) -> bool:
        """Gradio's ``auth`` callable: the password is a key whose configured name is the
        user name (the key comparison is constant-time over every key)."""
        found = self.keys.authenticate(password or "")
        if found is None:
            return False
        return hmac.compare_digest(found[0].encode("utf-8", "surrogatepass"),
                                   (username or "").strip().encode("utf-8", "surrogatepass"))

    def is_key(self, text: str) -> bool:
        """Whether ``text`` is one of the keys (a key typed as the user name is never logged)."""
        return self.keys.authenticate(text or "") is not None

    @property
    def auth_message(self) -> str:
        """What the sign-in page says above the form."""
        return " ".join(filter(None, ("Sign in with your API key: its name as the user name, "
                                      "the key as the password.", self.notice)))

    def user(self, request: gr.Request | None) -> User | None:
        """The signed-in user of ``request`` (None without a login). A request without one
        (or with a name whose key is gone) gets a user without rights."""
        if not self.enabled:
            return None
        name = str(getattr(request, "username", None) or "")
        return User(name or "unknown", self.roles.get(name, "none"))

    # ------------------------------------------------------------------ the page
    def gate(self, component: Any, right: Right) -> Any:
        """Make ``component`` (a button) interactive only for users with ``right`` (a hint on
        the page; the handler checks again). Returns the component."""
        if self.enabled:
            self._gates.append((component, right))
        return component

    def header(self) -> None:
        """Render "Signed in as ..." and a "Log out" button (``/ui/logout``; call inside the
        Blocks, before the tabs); :meth:`bind` then fills it on page load."""
        if not self.enabled:
            return
        with gr.Row(equal_height=True):
            self._banner = gr.Markdown(elem_id="login-banner")
            # a button, not a Markdown link: Gradio opens those in a new tab
            gr.Button("Log out", link="logout", size="sm", scale=0, min_width=90,
                      elem_id="login-logout")

    def bind(self, demo: gr.Blocks) -> None:
        """On page load: say who is signed in and apply the gates (call inside ``demo``,
        after every tab)."""
        if not self.enabled:
            return
        gates, self._gates = self._gates, []

        def on_load(request: gr.Request):
            u = self.user(request)
            text = f"Signed in as **{u.name}** ({u.role})" if u else ""
            return (text, *(gr.update(interactive=bool(u and u.may(right)))
                            for _, right in gates))

        demo.load(on_load, None, [self._banner, *(c for c, _ in gates)],
                  api_visibility="private")

def user_of(login: UiLogin | None, request: gr.Request | None) -> User | None:
    """The signed-in user, or None when the UI has no login (``login`` None or disabled)."""
    return None if login is None else login.user(request)
