#include "app/live_privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace provaudit::app {
namespace {
constexpr int SYSCALL_OK = 0;
constexpr int SYSCALL_FAILED = -1;
constexpr uid_t ROOT_UID = 0;
}  // namespace

bool dropPrivileges(const std::string& user, const std::vector<std::string>& owned, std::string& err) {
  errno = 0;
  const passwd* pw = ::getpwnam(user.c_str());  // single-threaded here: no capture or worker thread runs yet
  if (pw == nullptr) {
    err = "-Z " + user + ": " + (errno != 0 ? std::strerror(errno) : "no such user");
    return false;
  }
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  for (const auto& path : owned) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != SYSCALL_OK) continue;  // not created (yet): nothing to hand over
    if (::chown(path.c_str(), uid, gid) != SYSCALL_OK) {
      err = "-Z " + user + ": chown " + path + ": " + std::strerror(errno);
      return false;
    }
  }
  if (::initgroups(user.c_str(), gid) != SYSCALL_OK) {
    err = "-Z " + user + ": initgroups: " + std::strerror(errno);
    return false;
  }
  if (::setgid(gid) != SYSCALL_OK) {
    err = "-Z " + user + ": setgid: " + std::strerror(errno);
    return false;
  }
  if (::setuid(uid) != SYSCALL_OK) {
    err = "-Z " + user + ": setuid: " + std::strerror(errno);
    return false;
  }
  // setuid() from root sets all three user ids; make sure there is no way back.
  if (uid != ROOT_UID && ::setuid(ROOT_UID) != SYSCALL_FAILED) {
    err = "-Z " + user + ": could regain root after setuid, refusing to run";
    return false;
  }
  return true;
}

}  // namespace provaudit::app
