"""Named conversations for scripts: `lira ask QUESTION --session NAME`.

A session is a conversation of the chat history (so the app lists it too) with
a name; each `lira ask --session NAME` reads its question as a follow-up of
the session's earlier exchanges and adds its own exchange when answered.
"""

from __future__ import annotations

from assistant.chat.history import AnswerStats, History, ModelUsed, StoredMessage
from assistant.chat.modes import Mode
from assistant.engine import Answer
from assistant.followup import Turn

MAX_TURNS = 8  # a follow-up refers back to the last exchange; a few more cost nothing


def session_turns(history: History, conversation_id: int,
                  mode: Mode = Mode.DOCUMENTS) -> list[Turn]:
    """The finished exchanges of ``mode`` in a conversation, oldest first."""
    turns: list[Turn] = []
    question: StoredMessage | None = None
    for message in history.messages(conversation_id):
        if message.role == "user":
            question = message
        elif question is not None and message.mode == mode.value and message.complete \
                and message.text.strip():
            turns.append(Turn(question.text, message.text, message.searched or "",
                              tuple(message.sources)))
            question = None
    return turns[-MAX_TURNS:]


def record_answer(history: History, conversation_id: int, answer: Answer,
                  index_name: str | None, mode: Mode = Mode.DOCUMENTS) -> None:
    """Add a finished answer and its question to a conversation."""
    history.add_question(conversation_id, answer.question, mode.value, index_name)
    message_id = history.start_answer(conversation_id, mode.value,
                                      ModelUsed(answer.model, answer.adapter or ""), index_name)
    history.set_sources(message_id, answer.sources)
    follow_up = answer.follow_up
    if follow_up is not None and follow_up.rewritten:
        history.set_searched(message_id, follow_up.searched)
    stats = answer.stats
    history.finish_answer(message_id, answer.text, AnswerStats(
        stats.prompt_tokens, stats.new_tokens, stats.first_token_s, stats.total_s,
        stats.stopped_by))
