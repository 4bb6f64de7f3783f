"""predict's SQL clean-up: DB-GPT-Hub's, and the careful extraction, with one
case per bug the old clean-up had (issue 14)."""

import pytest

from flow_runtime.sql_clean import clean, clean_dbgpt_hub, clean_sql


def test_dbgpt_hub_only_replaces_newlines():
    # DB-GPT-Hub's predict.py: p.replace("\n", " "), nothing else.
    assert clean_dbgpt_hub("SELECT a\nFROM t;  -- x\n") == "SELECT a FROM t;  -- x "
    assert clean_dbgpt_hub("```sql\nSELECT 1\n```") == "```sql SELECT 1 ```"


@pytest.mark.parametrize("how", ["dbgpt-hub", "sql"])
def test_never_an_empty_line(how):
    assert clean("", how) == "SELECT"


def test_semicolon_inside_a_literal_does_not_cut():
    assert clean_sql("SELECT name FROM t WHERE note = 'a;b'; SELECT 2") == "SELECT name FROM t WHERE note = 'a;b'"


def test_escaped_quote_keeps_the_literal_open():
    assert clean_sql("SELECT 1 FROM t WHERE n = 'it''s; fine';") == "SELECT 1 FROM t WHERE n = 'it''s; fine'"


def test_semicolon_in_a_quoted_identifier_does_not_cut():
    assert clean_sql('SELECT "a;b" FROM t;') == 'SELECT "a;b" FROM t'


def test_with_in_prose_is_not_a_start():
    text = "Here is the query with a join:\nSELECT a FROM t JOIN u ON t.id = u.id"
    assert clean_sql(text) == "SELECT a FROM t JOIN u ON t.id = u.id"


def test_a_cte_starts_at_with():
    text = "WITH x AS (SELECT 1 AS n) SELECT n FROM x"
    assert clean_sql("Answer:\n" + text + ";") == text


def test_leading_parenthesis_is_kept():
    text = "(SELECT a FROM t) UNION (SELECT b FROM u)"
    assert clean_sql(text) == text


def test_spaces_inside_literals_are_kept():
    assert clean_sql("SELECT  *\n FROM t WHERE name = 'A  B'") == "SELECT * FROM t WHERE name = 'A  B'"


def test_code_fence_and_prose():
    text = "Sure! The query is:\n```sql\nSELECT count(*)\nFROM singer;\n```\nIt counts singers."
    assert clean_sql(text) == "SELECT count(*) FROM singer"


def test_reasoning_block_is_dropped():
    assert clean_sql("<think>\nI should select the names; with care.\n</think>\n\nSELECT name FROM singer") == \
        "SELECT name FROM singer"


def test_select_at_a_line_start_wins_over_the_word_in_prose():
    assert clean_sql("To select them all:\nSELECT * FROM t") == "SELECT * FROM t"


def test_lowercase_sql_and_plain_answers():
    assert clean_sql("select name from singer") == "select name from singer"
    assert clean_sql("  SELECT 1  ") == "SELECT 1"


def test_newline_inside_a_literal_never_breaks_the_line():
    assert "\n" not in clean_sql("SELECT 'a\nb' FROM t")
