"""The local-cache bench reads llama-cpp-python's verbose server log as it is written."""

from bench.local_cache import parse_server_log, server_totals

LOG = """\
INFO:     127.0.0.1:52354 - "GET /v1/models HTTP/1.1" 200 OK
Llama._create_completion: cache miss
llama_perf_context_print:        load time =    7581.65 ms
llama_perf_context_print: prompt eval time =    7581.19 ms /   778 tokens (    9.74 ms per token)
llama_perf_context_print:        eval time =     201.30 ms /     7 runs   (   28.76 ms per token)
llama_perf_context_print:       total time =    7788.11 ms /   785 tokens
Llama._create_completion: cache save
Llama.generate: 11 prefix-match hit, remaining 10 prompt tokens to eval
llama_perf_context_print: prompt eval time =      66.14 ms /    10 tokens (    6.61 ms per token)
llama_perf_context_print:        eval time =     183.57 ms /     7 runs   (   26.22 ms per token)
llama_perf_context_print:       total time =     255.19 ms /    17 tokens
state_read_data: reading state
Llama._create_completion: cache hit
Llama.generate: 768 prefix-match hit, remaining 1 prompt tokens to eval
llama_perf_context_print: prompt eval time =       0.00 ms /     0 tokens (    -nan ms per token)
llama_perf_context_print:        eval time =     207.09 ms /     8 runs   (   29.58 ms per token)
llama_perf_context_print:       total time =     492.07 ms /     8 tokens
"""


def test_each_completion_counts_what_it_read_and_reused():
    done = parse_server_log(LOG)
    assert [(c.prompt_tokens, c.reused, c.evaluated, c.ram_cache_load) for c in done] == [
        (778, 0, 778, False), (21, 11, 10, False), (769, 768, 1, True)]
    totals = server_totals(done)
    assert totals["requests"] == 3
    assert totals["reused_tokens"] == 779 and totals["reused_from_ram_cache"] == 768
    assert totals["ram_cache_loads"] == 1
