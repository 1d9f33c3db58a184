pub mod llama_server;
