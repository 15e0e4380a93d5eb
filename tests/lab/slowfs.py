#!/usr/bin/env python3
"""A FUSE filesystem that answers slowly: a passthrough of a backing directory
whose write and fsync each sleep DELAY seconds, as a marginal SD card stalls.

    slowfs.py BACKING MOUNTPOINT DELAY       (runs in the foreground)

fusepy (ctypes over libfuse2). Used by tests/lab/test_checks_latency.py on
the host: the kernel's real FUSE path, so the check's own open/write/fsync
calls are what is slow, not a mock.
"""
import errno
import os
import sys
import time

from fuse import FUSE, FuseOSError, Operations


class SlowPassthrough(Operations):
    def __init__(self, backing, delay):
        self.backing = backing
        self.delay = delay

    def _path(self, path):
        return os.path.join(self.backing, path.lstrip("/"))

    def access(self, path, mode):
        if not os.access(self._path(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._path(path))
        except OSError as exc:
            raise FuseOSError(exc.errno)
        return dict((key, getattr(st, key)) for key in ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime",
                                                         "st_nlink", "st_size", "st_uid"))

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._path(path))

    def statfs(self, path):
        st = os.statvfs(self._path(path))
        return dict((key, getattr(st, key)) for key in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                                         "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax"))

    def chmod(self, path, mode):
        os.chmod(self._path(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._path(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._path(path), times)

    def mkdir(self, path, mode):
        os.mkdir(self._path(path), mode)

    def rmdir(self, path):
        os.rmdir(self._path(path))

    def unlink(self, path):
        os.unlink(self._path(path))

    def rename(self, old, new):
        os.rename(self._path(old), self._path(new))

    def open(self, path, flags):
        return os.open(self._path(path), flags)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, size, offset, fh):
        os.lseek(fh, offset, os.SEEK_SET)
        return os.read(fh, size)

    def write(self, path, data, offset, fh):
        time.sleep(self.delay)  # the slow card
        os.lseek(fh, offset, os.SEEK_SET)
        return os.write(fh, data)

    def truncate(self, path, length, fh=None):
        with open(self._path(path), "r+") as f:
            f.truncate(length)

    def flush(self, path, fh):
        return os.fsync(fh)

    def fsync(self, path, datasync, fh):
        time.sleep(self.delay)  # the slow card
        return os.fsync(fh)

    def release(self, path, fh):
        return os.close(fh)


if __name__ == "__main__":
    backing, mountpoint, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    # direct_io: every write reaches us (no page cache in between).
    FUSE(SlowPassthrough(backing, delay), mountpoint, foreground=True, nothreads=True, direct_io=True)
