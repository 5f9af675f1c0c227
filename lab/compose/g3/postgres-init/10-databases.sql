CREATE DATABASE agenta_oss_core;
CREATE DATABASE agenta_oss_tracing;
CREATE DATABASE agenta_oss_supertokens;
