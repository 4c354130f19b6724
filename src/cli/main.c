/* `sovgate`: the gateway daemon and its administration commands. */
#include "cli/cli.h"
#include "http/tls.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sovgate <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve --config FILE          run the gateway\n"
    "  serve --dev [--state-dir D] [--backend URL | --model GGUF] [--port N]\n"
    "                               run on the embedded development defaults\n"
    "  check-config FILE            validate a configuration; print every error\n"
    "  keys create --name N [--models M,...] (--config FILE | --db FILE)\n"
    "                               create a client key (printed once)\n"
    "  keys list (--config FILE | --db FILE)\n"
    "  keys revoke --name N [--hash PREFIX] (--config FILE | --db FILE)\n"
    "  keys hash                    print the key_hash of a key read from stdin\n"
    "  redact [--config FILE] [--report FILE] [--jsonl]\n"
    "                               redact stdin to stdout (see docs/redaction.md)\n"
    "  policy explain --config FILE [--endpoint E [--model NAME] | --path PATH]\n"
    "         [--client NAME] [--fields SPEC] < body.json\n"
    "                               what the policy would do with a request (sends nothing);\n"
    "                               E: chat, completions, embeddings, messages, responses,\n"
    "                               gemini[-stream|-embed|-batch-embed] (with --model),\n"
    "                               ollama-chat|-generate|-embed|-embeddings (docs/policy.md)\n"
    "  audit verify --db FILE [--pubkey FILE] | --postgres CONNINFO [--instance ID]\n"
    "  audit export|tail|prune|keygen|pubkey ...   the audit trail (see docs/audit.md)\n"
    "  model import|list|verify|promote|rollback|remove|gc|inspect|push|pull ...\n"
    "                               the signed model store (see docs/models.md)\n"
    "  backup --config FILE --out FILE --key KEYREF [--with-weights] [--with-secrets]\n"
    "  restore FILE --to DIR --key KEYREF --pubkey FILE [--force]\n"
    "                               encrypted, signed backups (see docs/operations.md)\n"
    "  leakcheck --config FILE [--keep DIR]\n"
    "                               replay canary requests against capture backends and\n"
    "                               fail if anything reached a backend it must not\n"
    "  dev-certs --dir DIR          create a development CA and a localhost certificate\n"
    "  version                      print the version\n";

int sg_cli_usage_error(const char *msg)
{
    if (msg)
        fprintf(stderr, "sovgate: %s\n", msg);
    fputs(usage, stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return sg_cli_usage_error(NULL);
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return sg_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return sg_cmd_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "keys") == 0)
        return sg_cmd_keys(argc - 1, argv + 1);
    if (strcmp(cmd, "redact") == 0)
        return sg_cmd_redact(argc - 1, argv + 1);
    if (strcmp(cmd, "policy") == 0)
        return sg_cmd_policy(argc - 1, argv + 1);
    if (strcmp(cmd, "leakcheck") == 0)
        return sg_cmd_leakcheck(argc - 1, argv + 1);
    if (strcmp(cmd, "audit") == 0)
        return sg_cmd_audit(argc - 1, argv + 1);
    if (strcmp(cmd, "model") == 0)
        return sg_cmd_model(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0)
        return sg_cmd_backup(argc - 1, argv + 1);
    if (strcmp(cmd, "restore") == 0)
        return sg_cmd_restore(argc - 1, argv + 1);
    if (strcmp(cmd, "dev-certs") == 0) {
        if (argc != 4 || strcmp(argv[2], "--dir") != 0)
            return sg_cli_usage_error("dev-certs needs --dir DIR");
        struct sg_error err = {0};
        if (sg_tls_make_dev_certs(argv[3], &err) != 0) {
            fprintf(stderr, "sovgate: %s\n", err.msg);
            return 1;
        }
        printf("%s/ca.pem %s/cert.pem %s/key.pem\n", argv[3], argv[3], argv[3]);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("sovgate %s\n", SG_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    return sg_cli_usage_error("unknown command");
}
