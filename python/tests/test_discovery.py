"""Finding clusters: the same-user checks on the runtime directory, without starting one."""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pxsh  # noqa: E402


class DiscoveryTests(unittest.TestCase):
    def setUp(self):
        self.runtime = tempfile.mkdtemp(prefix="pxsh-discovery-")
        self.saved = os.environ.get("XDG_RUNTIME_DIR")
        os.environ["XDG_RUNTIME_DIR"] = self.runtime

    def tearDown(self):
        if self.saved is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = self.saved
        shutil.rmtree(self.runtime, ignore_errors=True)

    def test_no_cluster_running_says_how_to_start_one(self):
        with self.assertRaisesRegex(pxsh.ClusterError, "no pxsh cluster is running; start one with"):
            pxsh.Client()
        with self.assertRaisesRegex(pxsh.ClusterError, r"no pxsh cluster named 'nope' \(none is running"):
            pxsh.Client(cluster="nope")

    def test_a_directory_others_may_enter_is_refused(self):
        clusters = os.path.join(self.runtime, "pxsh", "clusters", "open")
        os.makedirs(clusters)
        os.chmod(os.path.join(self.runtime, "pxsh"), 0o700)
        os.chmod(clusters, 0o755)
        with self.assertRaisesRegex(pxsh.ClusterError, r"refusing to use .*/open: its mode is 0o755, not 0700"):
            pxsh.Client(cluster="open")

    def test_a_runtime_directory_others_may_enter_is_refused_by_name_or_not(self):
        os.makedirs(os.path.join(self.runtime, "pxsh", "clusters", "open"))
        os.chmod(os.path.join(self.runtime, "pxsh"), 0o755)
        refused = r"^refusing to use .*/pxsh: its mode is 0o755, not 0700$"
        with self.assertRaisesRegex(pxsh.ClusterError, refused):
            pxsh.Client(cluster="open")
        with self.assertRaisesRegex(pxsh.ClusterError, refused):
            pxsh.Client()
        with self.assertRaisesRegex(pxsh.ClusterError, refused):
            pxsh.list_clusters()

    def test_a_directory_of_another_user_is_refused(self):
        if os.getuid() != 0:
            self.skipTest("giving a directory to another user needs root (CI runs as root)")
        cluster = os.path.join(self.runtime, "pxsh", "clusters", "theirs")
        os.makedirs(cluster, mode=0o700)
        os.chmod(os.path.join(self.runtime, "pxsh"), 0o700)
        os.chown(cluster, 4242, -1)
        with self.assertRaisesRegex(pxsh.ClusterError, r"refusing to use .*/theirs: owned by uid 4242, not 0"):
            pxsh.Client(cluster="theirs")

    def test_a_bad_name_is_refused(self):
        with self.assertRaisesRegex(pxsh.ClusterError, "is not a cluster name"):
            pxsh.Client(cluster="../etc")


if __name__ == "__main__":
    unittest.main()
