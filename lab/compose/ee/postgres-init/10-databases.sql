CREATE DATABASE agenta_ee_core;
CREATE DATABASE agenta_ee_tracing;
CREATE DATABASE agenta_ee_supertokens;
