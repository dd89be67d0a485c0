#pragma once
// Names a thread for top -H, ps -L and perf ("pa-writer", "pa-worker-0"):
// the kernel keeps 15 bytes, so a longer name is cut there. Best effort: a
// thread that has already ended keeps no name, and that is no error.
#include <pthread.h>

#include <string>
#include <string_view>
#include <thread>

namespace provaudit {

inline constexpr std::size_t THREAD_NAME_MAX = 15;  // TASK_COMM_LEN without its NUL

inline void nameThread(std::thread& thread, std::string_view name) {
  const std::string cut(name.substr(0, THREAD_NAME_MAX));
  pthread_setname_np(thread.native_handle(), cut.c_str());
}

}  // namespace provaudit
