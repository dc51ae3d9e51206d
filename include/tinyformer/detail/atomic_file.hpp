// tinyformer/detail/atomic_file.hpp: whole files written atomically, and read back (POSIX).
//
// write_file_atomically writes a temporary file in the same folder, syncs it, and renames it
// over the target, so that a reader sees either the old file whole or the new one whole, even
// after a crash or a kill mid-write; the folder is then synced so that the rename lasts.
#pragma once

#include <algorithm>     // std::min
#include <atomic>        // std::atomic: unique temporary names within a process
#include <cerrno>        // errno, EINTR, EEXIST, EINVAL
#include <cstddef>       // std::size_t
#include <string>        // std::string, std::to_string
#include <string_view>   // std::string_view
#include <system_error>  // std::system_category: thread-safe OS error text

#include <fcntl.h>      // open, O_*
#include <sys/stat.h>   // fstat, S_ISREG, S_ISDIR
#include <sys/types.h>  // ssize_t
#include <unistd.h>     // write, read, fsync, close, unlink, getpid

#include "../error.hpp"

namespace tinyformer {
namespace detail {

// Test-only: when set, called before each system call of write_file_atomically with the
// step's name ("create", "write", "sync", "close", "rename"); a non-zero return is taken as
// that call failing with this errno. Lets tests make a write fail where the OS would not
// (tests often run as root, which permissions do not stop).
using file_fault_hook = int (*)(const char* step);
inline file_fault_hook& atomic_write_fault() {
    static file_fault_hook hook = nullptr;
    return hook;
}

// The errno of a failed call, or the one a test hook makes up for it.
inline int write_fault(const char* step) {
    const file_fault_hook hook = atomic_write_fault();
    return hook ? hook(step) : 0;
}

inline std::string os_error_text(int code) {
    return std::system_category().message(code);
}

// "dir/model.json" -> "dir", "model.json" -> ".", "/model.json" -> "/"
inline std::string parent_folder(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// Replaces the file at path with contents, atomically. On failure the temporary file is
// removed, the old file (if any) is untouched, and a file_error names path and the OS error.
inline void write_file_atomically(const std::string& path, std::string_view contents) {
    static std::atomic<unsigned> counter{0};
    const std::string fail = path + ": cannot save: ";
    // create a temporary file next to the target: the rename must not cross file systems
    std::string temp;
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
        temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
        int code = write_fault("create");
        if (code == 0) {
            fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (fd < 0) code = errno;
        }
        // a name left by a crashed process of the same id: take the next one
        if (fd < 0 && !(code == EEXIST && attempt < 100)) {
            throw file_error(fail + "cannot create the temporary file " + temp + ": " +
                             os_error_text(code));
        }
    }
    // from here on, a failure removes the temporary file
    auto give_up = [&](const std::string& what, int code) {
        if (fd >= 0) ::close(fd);
        ::unlink(temp.c_str());
        throw file_error(fail + what + ": " + os_error_text(code));
    };
    // write everything, in pieces so that a slow disk is never asked for too much at once
    std::size_t done = 0;
    while (done < contents.size()) {
        const std::size_t piece = std::min<std::size_t>(contents.size() - done, 1 << 16);
        int code = write_fault("write");
        ssize_t n = -1;
        if (code == 0) {
            n = ::write(fd, contents.data() + done, piece);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) code = errno;
        }
        if (code != 0) give_up("writing " + temp, code);
        done += static_cast<std::size_t>(n);
    }
    // to the disk, then closed: close can report a write error that write did not
    int code = write_fault("sync");
    if (code == 0 && ::fsync(fd) != 0) code = errno;
    if (code != 0) give_up("syncing " + temp, code);
    code = write_fault("close");
    const int closed = ::close(fd);  // releases the descriptor even when it reports an error
    const int close_error = errno;
    fd = -1;
    if (code == 0 && closed != 0) code = close_error;
    if (code != 0) give_up("closing " + temp, code);
    // the atomic step
    code = write_fault("rename");
    if (code == 0 && ::rename(temp.c_str(), path.c_str()) != 0) code = errno;
    if (code != 0) give_up("renaming " + temp + " to " + path, code);
    // make the rename itself durable; a file system that cannot sync a folder says EINVAL
    const std::string folder = parent_folder(path);
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        const int error = errno;
        throw file_error(fail + "saved, but cannot open its folder " + folder +
                         " to sync it: " + os_error_text(error));
    }
    if (::fsync(dir) != 0 && errno != EINVAL) {
        const int error = errno;
        ::close(dir);
        throw file_error(fail + "saved, but syncing its folder " + folder +
                         " failed: " + os_error_text(error));
    }
    ::close(dir);
}

// Opens the regular file at path for reading and gives its size; a file_error when it is
// missing, unreadable or not a regular file.
inline int open_to_read(const std::string& path, std::size_t& size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        throw file_error(path + ": cannot open the model file: " + os_error_text(error));
    }
    struct stat info;
    if (::fstat(fd, &info) != 0) {
        const int error = errno;
        ::close(fd);
        throw file_error(path + ": cannot read the model file: " + os_error_text(error));
    }
    if (!S_ISREG(info.st_mode)) {
        ::close(fd);
        throw file_error(path + ": expected a model file, found " +
                         (S_ISDIR(info.st_mode) ? "a directory" : "something else (a device?)"));
    }
    size = static_cast<std::size_t>(info.st_size);
    return fd;
}

// The whole file at path; a file_error when it is missing, not a regular file or unreadable.
inline std::string read_whole_file(const std::string& path) {
    std::size_t size = 0;
    const int fd = open_to_read(path, size);
    std::string text(size, '\0');
    std::size_t done = 0;
    // the size may change under us: read until the end, growing when needed
    for (;;) {
        if (done == text.size()) text.resize(text.size() + (1 << 16));
        const ssize_t n = ::read(fd, &text[done], text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            throw file_error(path + ": cannot read the model file: " + os_error_text(error));
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    text.resize(done);
    return text;
}

}  // namespace detail
}  // namespace tinyformer
