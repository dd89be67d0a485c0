#pragma once
// -Z USER for live capture, as tcpdump does it: once every privileged resource
// is open (capture handles, database, events and evidence files), give the
// files we write to USER and become USER for good.
#include <string>
#include <vector>

namespace provaudit::app {

// chown()s each existing path in `owned` to USER (files created as root that the
// sensor keeps writing: the database and its -wal/-shm, events, evidence), then
// initgroups(), setgid(), setuid(), and checks that root cannot be regained.
// False with `err` = one line on any failure (the caller exits 1).
bool dropPrivileges(const std::string& user, const std::vector<std::string>& owned, std::string& err);

}  // namespace provaudit::app
