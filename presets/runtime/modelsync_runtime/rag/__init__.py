"""The RAG engine: KAITO's RAGEngine API over LlamaIndex, FAISS and local embeddings.

```
config.py      rag.yaml (kind RAGConfig) + KAITO's variables -> RagConfig
embedding.py   the local sentence-transformers model through LlamaIndex; its tokenizer
splitting.py   sentences by default; tree-sitter code chunks for split_type: code
faiss_store.py the FAISS vector store (deletes, JSON id map) under each index
engine.py      named indexes: documents in, nodes out, persist and load
generation.py  /v1/chat/completions and /query: retrieve, then the served model answers
schemas.py     the API's bodies, in KAITO's field names
app.py         the FastAPI routes
cli.py         modelsync-rag: validate, load, serve with uvicorn
```
"""
