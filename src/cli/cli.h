/* Subcommands of the `sovgate` command line. Each returns the process exit status. */
#ifndef SG_CLI_CLI_H
#define SG_CLI_CLI_H

int sg_cmd_serve(int argc, char **argv);
int sg_cmd_check_config(int argc, char **argv);
int sg_cmd_keys(int argc, char **argv);
int sg_cmd_redact(int argc, char **argv);
int sg_cmd_policy(int argc, char **argv);
int sg_cmd_leakcheck(int argc, char **argv);
int sg_cmd_audit(int argc, char **argv);
int sg_cmd_model(int argc, char **argv);
int sg_cmd_backup(int argc, char **argv);
int sg_cmd_restore(int argc, char **argv);

/* Prints `msg` and the usage hint to stderr; returns 2. */
int sg_cli_usage_error(const char *msg);

#endif
