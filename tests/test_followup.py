"""Follow-up questions read in their conversation (assistant.followup) and the engine's
retrieval and prompt for them, with tiny models."""

from assistant.engine import Engine
from assistant.followup import (
    FollowUp,
    Turn,
    earlier_exchange,
    merge_sources,
    read_follow_up,
    refers_back,
)
from assistant.rag import EARLIER, Source

TESLA = Turn("Где жил Никола Тесла?", "В Нью-Йорке [1].")


def source(n: int, path: str, text: str = "") -> Source:
    return Source(n, path, path, "", text or path, 1.0 / n)


def test_questions_that_refer_back_and_questions_that_stand_alone() -> None:
    for question in ("А когда он умер?", "Где она жила?", "А в каком году?", "Почему?",
                     "Сколько их было?", "Что там построили?", "Когда это случилось?"):
        assert refers_back(question), question
    for question in ("Когда умер Лев Толстой?", "В каком году основан Петербург?",
                     "Какая река протекает через Варшаву?", ""):
        assert not refers_back(question), question


def test_a_follow_up_carries_the_names_and_terms_it_refers_back_to() -> None:
    follow_up = read_follow_up("  А когда он умер? ", [TESLA])
    assert follow_up.refers_back and follow_up.rewritten
    assert follow_up.question == "А когда он умер?"
    assert follow_up.carried[:3] == ("Никола", "Тесла", "Нью-Йорке")
    assert follow_up.searched == "А когда он умер? " + " ".join(follow_up.carried)
    # what the follow-up already says is not carried again (stems compared: Тесле/Тесла)
    assert "Тесла" not in read_follow_up("А когда Тесле дали премию?", [TESLA]).carried


def test_a_pronoun_keeps_its_own_predicate_and_an_ellipsis_borrows_one() -> None:
    worked = Turn("Где работал Никола Тесла?", "В Нью-Йорке.")
    assert read_follow_up("Когда он умер?", [worked]).carried == ("Никола", "Тесла",
                                                                  "Нью-Йорке")
    bowl = Turn("Какая команда представляла НФК на Суперкубке?", "Каролина Пантерз [1].")
    carried = read_follow_up("А АФК?", [bowl]).carried
    assert carried[:4] == ("команда", "представляла", "НФК", "Суперкубке")
    assert "Каролина" in carried


def test_a_chain_of_follow_ups_keeps_the_subject() -> None:
    second = read_follow_up("А когда он умер?", [TESLA])
    third = read_follow_up("Где он похоронен?",
                           [TESLA, Turn(second.question, "В 1943 году.", second.searched)])
    assert {"Никола", "Тесла"} <= set(third.carried) and "1943" in third.carried


def test_a_standalone_question_or_a_first_message_is_searched_as_it_is() -> None:
    assert read_follow_up("Когда умер Лев Толстой?", [TESLA]) == FollowUp(
        "Когда умер Лев Толстой?", "Когда умер Лев Толстой?", False)
    first = read_follow_up("А когда он умер?", [])
    assert first.refers_back and not first.rewritten and first.carried == ()


def test_earlier_sources_stay_candidates_in_the_last_places_renumbered() -> None:
    found = [source(1, "a"), source(2, "b"), source(3, "c"), source(4, "d")]
    earlier = [source(1, "x"), source(2, "a"), source(3, "y")]
    merged = merge_sources(found, earlier, 4)
    # 'a' was found again; 'x' takes the last place; 'y' is past the earlier slots
    assert [s.path for s in merged] == ["a", "b", "c", "x"]
    assert [s.n for s in merged] == [1, 2, 3, 4]
    assert [s.path for s in merge_sources(found, [source(1, "x"), source(2, "y")], 4)] == [
        "a", "b", "x", "y"]
    assert merge_sources(found, [], 5) == found


def test_the_earlier_exchange_loses_its_citations() -> None:
    assert earlier_exchange([]) is None
    assert earlier_exchange([TESLA]) == ("Где жил Никола Тесла?", "В Нью-Йорке .")


def test_the_engine_reads_a_follow_up_in_its_conversation(tiny_settings, docs) -> None:
    engine = Engine(tiny_settings)
    engine.index_path(docs)
    first = engine.prepare_answer("Когда основан Петербург?", k=1, max_new_tokens=2)
    assert first.follow_up is not None and not first.follow_up.refers_back
    assert EARLIER not in first.prompt
    turn = Turn(first.question, "В 1703 году [1].", "", tuple(first.sources))
    follow = engine.prepare_answer("А что там ещё есть?", k=2, max_new_tokens=2, turns=[turn])
    assert follow.follow_up.rewritten and "Петербург" in follow.follow_up.searched
    # the previous answer's source stays among the candidates, and the prompt shows the
    # exchange the question refers back to, without its old citation numbers
    assert first.sources[0].text in [s.text for s in follow.sources]
    assert f"{EARLIER}\nВопрос: Когда основан Петербург?\nОтвет: В 1703 году ." in follow.prompt
    answer = engine.finish_answer(follow, "Есть.")
    assert answer.searched == follow.follow_up.searched
    unrelated = engine.prepare_answer("Какая столица России?", k=2, max_new_tokens=2,
                                      turns=[turn])
    assert not unrelated.follow_up.rewritten and EARLIER not in unrelated.prompt
    bare = engine.prepare_answer("А там?", use_rag=False, max_new_tokens=2, turns=[turn])
    assert bare.follow_up is None and EARLIER in bare.prompt
