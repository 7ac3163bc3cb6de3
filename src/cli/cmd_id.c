/* cmd_id.c - `unhosted id [--json] [--name NAME]`: this device's id and name, creating the
 * identity (identity.h) on first use; --name renames the device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/cli_util.h"
#include "cluster/identity.h"

static void id_usage(FILE *f)
{
    fprintf(f, "usage: unhosted id [--json] [--name NAME]\n"
               "Prints this device's id (give it to the devices you pair with) and its name,\n"
               "creating the device key on first use.\n"
               "  --json       {\"id\", \"short\", \"name\"}\n"
               "  --name NAME  rename this device (shown to the devices it pairs with)\n");
}

int cmd_id(int argc, char **argv)
{
    const char *cmd = "id", *name = NULL;
    int json = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--name")) {
            if (!(name = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            id_usage(stdout);
            return 0;
        } else {
            cli_error(cmd, "unknown option %s", argv[i]);
            id_usage(stderr);
            return 2;
        }
    }
    uh_err err = {0};
    identity *id = NULL;
    if (identity_load(NULL, &id, &err) != 0) {
        cli_error(cmd, "%s", err.msg);
        return 1;
    }
    if (name && identity_set_name(id, name, &err) != 0) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    char short_id[DEVICE_ID_SHORT + 1];
    snprintf(short_id, sizeof short_id, "%.*s", DEVICE_ID_SHORT, identity_device_id(id));
    if (json) {
        cJSON *o = cJSON_CreateObject();
        char *text = NULL;
        if (o && cJSON_AddStringToObject(o, "id", identity_device_id(id)) &&
            cJSON_AddStringToObject(o, "short", short_id) &&
            cJSON_AddStringToObject(o, "name", identity_name(id)))
            text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!text) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        printf("%s\n", text);
        free(text);
    } else {
        printf("id    %s\nname  %s\n", identity_device_id(id), identity_name(id));
    }
    rc = 0;
done:
    identity_free(id);
    return rc;
}
