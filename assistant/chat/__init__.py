"""The merchant chat: understanding a message, matching products, writing verified replies.

    from assistant.chat import ChatAgent, ChatSession
    agent = ChatAgent(service); session = ChatSession()
    agent.reply("what should I charge for boAt Rockerz 450? my cost is 900", session).text

Modules by role: `parsing` (message -> intent + slots), `matching` (catalog products from
words), `session` (one conversation's state, a reply), `replies` (verified reply writers),
`routing` (LLM tool routing through LangChain), `ports` (what the chat needs from the
service), `agent` (ChatAgent composing them).
"""
from assistant.chat.agent import ChatAgent, timed_first_reply
from assistant.chat.matching import CatalogMatcher, Match, MatchResult
from assistant.chat.parsing import Amount, Intent, find_amounts, parse, parse_amount
from assistant.chat.ports import ChatService
from assistant.chat.replies import Say
from assistant.chat.session import ChatSession, Reply

__all__ = ["Amount", "CatalogMatcher", "ChatAgent", "ChatService", "ChatSession", "Intent", "Match",
           "MatchResult", "Reply", "Say", "find_amounts", "parse", "parse_amount", "timed_first_reply"]
