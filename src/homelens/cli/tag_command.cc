#include "homelens/cli/commands.h"
namespace homelens::cli {
void add_tag_command(CLI::App&) {}
}
