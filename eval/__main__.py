"""``python -m eval --dataset eval/datasets/seed_qa.jsonl`` runs ``rag eval``."""

from rag.cli import cli
from rag.embedding import set_offline_env

if __name__ == "__main__":
    set_offline_env()
    cli(["eval", *__import__("sys").argv[1:]], prog_name="python -m eval")
