"""Discord markup left out of a question (index.answering.markup), and a question that is
nothing but markup refused with a hint before anything is searched."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.answering import NO_WORDS, answer, strip_markup
from index.errors import EmptyQuestionError
from index.retrieval import Retriever

QUESTION = "who is the Azeri foreign minister?"


@pytest.mark.parametrize(
    "markup",
    [
        "<@80351110224678912>",  # user
        "<@!80351110224678912>",  # user, nickname form
        "<@&165511591545143296>",  # role
        "<#103735883630395392>",  # channel
        "<:mmLol:216154654256398347>",  # custom emoji
        "<a:b1nzy:392938283556143104>",  # animated emoji
        "<t:1618953630>",  # timestamp
        "<t:1618953630:R>",  # timestamp with a style
        "<t:-1:d>",
        "</airhorn:816437322781949972>",  # slash command
        "</ask question:816437322781949972>",  # with a subcommand
        "</role add member:816437322781949972>",  # with a subcommand group
        "<id:customize>",  # guild navigation
        "<id:browse>",
        "<id:guide>",
        "<id:linked-roles>",
        "<id:linked-roles:123456>",
        "@everyone",
        "@here",
    ],
)
def test_each_form_of_markup_is_left_out(markup: str) -> None:
    assert strip_markup(f"{markup} {QUESTION}") == QUESTION
    assert strip_markup(f"who is {markup}  the Azeri\nforeign minister?") == QUESTION
    assert strip_markup(f"{QUESTION} {markup}") == QUESTION
    assert strip_markup(markup) == ""


def test_markup_back_to_back_and_with_punctuation() -> None:
    assert strip_markup("<@1><@&2><#3>@here hi") == "hi"
    assert strip_markup("@everyone, who is it?") == ", who is it?"
    assert strip_markup("(@here) who?") == "( ) who?"
    assert strip_markup(" <@123>  @here\t") == ""


@pytest.mark.parametrize(
    "text",
    [
        "mail a@everyone.com about it",
        "mail @everyone.com about it",
        "x@here",
        "@heretic and @everyones",
        "@Everyone and @HERE",  # Discord's pings are case-sensitive
        "@@here",
        "I <3 this",
        "is a < b > c?",
        "<b>bold</b> and <i>",
        "<@name> and <@> and <#general>",  # not ids
        "<:nope:> and <t:soon> and <t:1:Rx>",
        "ask @alice or @bob_99",
        "</> and </ask:> and <id:>",
        "the <@123 unclosed",
    ],
)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert strip_markup(text) == text


@settings(max_examples=200, deadline=None)
@given(st.text().filter(lambda t: "<" not in t and "@" not in t))
def test_text_without_angle_brackets_or_at_signs_is_unchanged(text: str) -> None:
    assert strip_markup(text) == text


@pytest.mark.parametrize("question", ["<@123> @here", "<#1> <:wave:2> <t:3:R>", "", "  \n"])
def test_a_question_without_words_is_refused_before_searching(question: str) -> None:
    unused = Retriever.__new__(Retriever)  # the refusal comes before the index is read
    with pytest.raises(EmptyQuestionError) as raised:
        answer(unused, question)
    assert str(raised.value) == NO_WORDS
