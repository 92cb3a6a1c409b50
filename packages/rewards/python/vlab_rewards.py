"""vlab reward shim: vlab's rewards inside verl, TRL and OpenRLHF, by calling `vlab rewards serve`.

Standard library only (urllib, json, time). Start the service, then point the engine at this file:

    vlab rewards serve --port 5000 [--routes routes.json] [--token T]

    verl      custom_reward_function.path=vlab_rewards.py custom_reward_function.name=compute_score
              (options through +custom_reward_function.reward_kwargs.reward=vlm-r1-rec)
    TRL       from vlab_rewards import trl_reward
              GRPOTrainer(..., reward_funcs=[trl_reward])       # label column: solution / answer / label
              # or make_trl_reward(label_key="boxes", reward="visual-rft-det")
    OpenRLHF  --reward.remote_url vlab_rewards.py   (<= 0.10.1: --remote_rm_url vlab_rewards.py)
              or, without this file, --reward.remote_url http://127.0.0.1:5000/get_reward

Environment:
    VLAB_REWARD_URL      the service (default http://127.0.0.1:5000/get_reward; a bare host:port gets /get_reward)
    VLAB_REWARD_TOKEN    bearer token, if the service was started with one
    VLAB_REWARD_NAME     a reward to ask for by name (default: the service's routing / default)
    VLAB_REWARD_OPTIONS  JSON options for that reward, e.g. {"rule": "threshold"}
    VLAB_REWARD_LABEL_KEY  TRL: the dataset column holding the label (default: the first of solution, answer,
                         label, ground_truth present)
    VLAB_REWARD_VERL_PARTS  verl: "0" returns only score and acc (keep keys equal across mixed data sources)

Retries follow OpenRLHF's remote reward client (openrlhf/utils/agent.py): up to 5 tries, 1 s apart, 180 s
each, then RuntimeError. Unlike it, a refusal that cannot change on retry (400, 401, 404, 405, 413) fails at
once with the service's reason.

verl and TRL hand over the response alone, so the prompt is sent empty and the service scores the whole text;
OpenRLHF's reward_func forwards the templated query and prompt and the service cuts the response out.
"""

import json
import os
import time
import urllib.error
import urllib.request

TRIES = 5
RETRY_SLEEP_S = 1.0
TIMEOUT_S = 180.0
LABEL_KEYS = ("solution", "answer", "label", "ground_truth")
_FINAL_STATUSES = (400, 401, 404, 405, 413)


def _url():
    url = os.environ.get("VLAB_REWARD_URL", "http://127.0.0.1:5000/get_reward")
    if "://" not in url:
        url = "http://" + url
    path = url.partition("://")[2].partition("/")[2]
    return url if path else url.rstrip("/") + "/get_reward"


def _jsonable(x):
    """Labels and extras as JSON: numpy / torch values through tolist(), containers recursively."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):  # numpy arrays and scalars, torch tensors
        return _jsonable(x.tolist())
    if hasattr(x, "item"):
        return _jsonable(x.item())
    if isinstance(x, (bytes, bytearray)):
        return None  # image bytes are not a label
    return str(x)


def _reward_spec(reward):
    if reward is None:
        reward = os.environ.get("VLAB_REWARD_NAME") or None
    if reward is None or isinstance(reward, dict):
        return reward
    options = os.environ.get("VLAB_REWARD_OPTIONS")
    return {"reward": str(reward), "options": json.loads(options)} if options else str(reward)


def score(responses, labels, prompts=None, data_sources=None, reward=None):
    """POSTs one batch to the service and returns its answer: {"rewards", "scores", "extra_logs", ...}."""
    body = {"query": [str(r) for r in responses], "labels": _jsonable(list(labels))}
    body["prompts"] = list(prompts) if prompts is not None else [""] * len(body["query"])
    if data_sources is not None:
        body["data_source"] = [None if d is None else str(d) for d in data_sources]
    spec = _reward_spec(reward)
    if spec is not None:
        body["reward"] = spec
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    token = os.environ.get("VLAB_REWARD_TOKEN")
    if token:
        headers["Authorization"] = "Bearer " + token
    url = _url()
    last = None
    for attempt in range(TRIES):
        try:
            req = urllib.request.Request(url, data=data, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as res:
                answer = json.loads(res.read().decode("utf-8"))
            if not isinstance(answer, dict) or "rewards" not in answer:
                raise ValueError("the answer has no rewards: %r" % (answer,))
            return answer
        except urllib.error.HTTPError as e:
            reason = e.read().decode("utf-8", "replace")
            if e.code in _FINAL_STATUSES:
                raise RuntimeError("vlab reward service refused the request (%d): %s" % (e.code, reason)) from None
            last = "%d %s" % (e.code, reason)
        except Exception as e:  # connection refused, timeout, bad JSON: try again, as OpenRLHF does
            last = repr(e)
        if attempt + 1 < TRIES:
            time.sleep(RETRY_SLEEP_S)
    raise RuntimeError("vlab reward service at %s failed %d times; last error: %s" % (url, TRIES, last))


# ---------------------------------------------------------------------------------------------------------
# verl: custom_reward_function (verl/trainer/ppo/reward.py), one sample per call, or the batch reward
# manager's plural keywords (verl/workers/reward_manager/batch.py).


def _verl_result(answer, i):
    result = {"score": float(answer["rewards"][i]), "acc": float(answer.get("scores", answer["rewards"])[i])}
    if os.environ.get("VLAB_REWARD_VERL_PARTS", "1") != "0":
        for key, values in (answer.get("extra_logs") or {}).items():
            result[key] = float(values[i])
    return result


def compute_score(
    data_source=None,
    solution_str=None,
    ground_truth=None,
    extra_info=None,
    data_sources=None,
    solution_strs=None,
    ground_truths=None,
    extra_infos=None,
    reward=None,
    **kwargs
):
    """verl's reward function: {"score": reward, "acc": 0-1 score, <parts>} (a list of them in batch form)."""
    if solution_strs is not None:
        n = len(solution_strs)
        sources = list(data_sources) if data_sources is not None else [None] * n
        answer = score(solution_strs, list(ground_truths), data_sources=sources, reward=reward)
        return [_verl_result(answer, i) for i in range(n)]
    answer = score([solution_str], [ground_truth], data_sources=[data_source], reward=reward)
    return _verl_result(answer, 0)


# ---------------------------------------------------------------------------------------------------------
# TRL: reward_funcs entries are called as f(prompts=..., completions=..., completion_ids=..., **columns),
# with trainer_state, log_extra and log_metric (trl/trainer/grpo_trainer.py, _calculate_rewards).


def _completion_text(c):
    """A standard completion is a string; a conversational one a list of messages, the first holding the text."""
    if isinstance(c, str):
        return c
    if isinstance(c, (list, tuple)) and c:
        c = c[0]
    if isinstance(c, dict):
        content = c.get("content", "")
        if isinstance(content, str):
            return content
        if isinstance(content, (list, tuple)):  # content blocks [{"type": "text", "text": ...}]
            return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return str(c)


def make_trl_reward(label_key=None, reward=None, name="vlab_reward"):
    """A TRL reward function reading labels from the dataset column `label_key`."""

    def trl_reward(prompts=None, completions=None, **kwargs):
        texts = [_completion_text(c) for c in completions]
        key = label_key or os.environ.get("VLAB_REWARD_LABEL_KEY")
        if key is None:
            key = next((k for k in LABEL_KEYS if k in kwargs), None)
        if key is None or key not in kwargs:
            raise KeyError("vlab reward: no label column (looked for %s)" % (key or ", ".join(LABEL_KEYS)))
        answer = score(texts, list(kwargs[key]), data_sources=kwargs.get("data_source"), reward=reward)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for part, values in (answer.get("extra_logs") or {}).items():
                try:
                    log_metric("vlab/" + part, sum(values) / max(1, len(values)))
                except Exception:
                    pass  # logging is a courtesy; the rewards are what TRL needs
        return [float(r) for r in answer["rewards"]]

    trl_reward.__name__ = name
    return trl_reward


trl_reward = make_trl_reward()


# ---------------------------------------------------------------------------------------------------------
# OpenRLHF: --reward.remote_url pointing at a .py file calls reward_func(queries, prompts, labels)
# (openrlhf/utils/agent.py; examples/python/reward_func.py), one sample per call in v0.11.


def reward_func(queries, prompts, labels, **kwargs):
    """OpenRLHF's Python-file reward: {"rewards", "scores", "extra_logs"} as tensors (lists without torch)."""
    answer = score(list(queries), list(labels), prompts=list(prompts), reward=kwargs.get("reward"))
    try:
        import torch

        as_tensor = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    except ImportError:
        as_tensor = list
    logs = answer.get("extra_logs") or {}
    return {
        "rewards": as_tensor(answer["rewards"]),
        "scores": as_tensor(answer.get("scores", answer["rewards"])),
        "extra_logs": {k: as_tensor(v) for k, v in logs.items()},
    }
