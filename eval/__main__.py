"""``python -m eval --dataset eval/datasets/seed_qa.jsonl`` runs ``rag eval``."""

from rag.faces.cli import cli

if __name__ == "__main__":
    cli(["eval", *__import__("sys").argv[1:]], prog_name="python -m eval")
