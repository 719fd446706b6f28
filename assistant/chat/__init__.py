"""The merchant chat: understanding a message, matching products, writing verified replies.

    from assistant.chat import ChatAgent, ChatSession
"""
from assistant.chat.agent import ChatAgent, ChatSession

__all__ = ["ChatAgent", "ChatSession"]
