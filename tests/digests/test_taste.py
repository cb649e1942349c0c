"""What makes two items alike, and how votes order a pool (pure, no database)."""

from __future__ import annotations

from digests.taste import LIKE, Taste, Vote, likeness, traits


def test_likeness_by_family_topic_and_terms() -> None:
    glm46, glm47 = traits("model", "GLM-4.6"), traits("model", "GLM-4.7")
    assert likeness(glm46, glm47) >= LIKE  # one family
    assert likeness(glm46, traits("model", "Mistral Large 3")) == 0
    # a paper is like its topic, and like another paper of that topic
    paper = traits("paper", "On-Policy Distillation", topic="On-Policy 蒸馏")
    assert likeness(paper, traits("topic", "On-Policy 蒸馏")) >= LIKE
    assert likeness(paper, traits("paper", "MiniLLM", topic="On-Policy 蒸馏")) >= LIKE
    # one shared word is not enough, two are; common words do not count
    one = traits("paper", "Sparse Mixture Routing")
    assert likeness(one, traits("paper", "Sparse Autoencoders")) < LIKE
    assert likeness(one, traits("paper", "Mixture Routing at Scale")) >= LIKE
    assert likeness(traits("paper", "A Model for Agents"), traits("paper", "Agents as Models")) == 0


def test_votes_order_the_pool_and_drop_nothing() -> None:
    pool = [
        traits("model", "Mistral Large 3"),
        traits("model", "Qwen3-Max"),
        traits("model", "GLM-4.6"),
        traits("model", "Olmo 3"),
    ]
    liked = Taste([Vote("GLM-4.7", traits("model", "GLM-4.7"), 1)])
    assert liked.rank(pool) == [
        (2, "because you liked GLM-4.7"),
        (0, None),
        (1, None),
        (3, None),
    ]
    disliked = Taste([Vote("Qwen3-Next", traits("model", "Qwen3-Next"), -1)])
    assert [n for n, _ in disliked.rank(pool)] == [0, 2, 3, 1]
    assert disliked.rank(pool)[-1][1] == "later than the rest: like Qwen3-Next, which you disliked"
    # votes that cancel out, or none at all, keep the digest order
    even = Taste(
        [
            Vote("GLM-4.7", traits("model", "GLM-4.7"), 1),
            Vote("GLM-5", traits("model", "GLM-5"), -1),
        ]
    )
    assert [n for n, _ in even.rank(pool)] == [0, 1, 2, 3]
    assert Taste([]).rank(pool, limit=2) == [(0, None), (1, None)]
