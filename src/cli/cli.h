/* cli.h - the unhosted subcommands. Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns the process exit status: 0 success, 1 runtime error, 2 usage error.
 * Errors go to stderr as one line "unhosted <cmd>: <message>". */
#ifndef UH_CLI_H
#define UH_CLI_H

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_id(int argc, char **argv);
int cmd_peers(int argc, char **argv);
int cmd_peer(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_pair(int argc, char **argv);
int cmd_pairing(int argc, char **argv);
int cmd_invite(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_discover(int argc, char **argv);

#endif
