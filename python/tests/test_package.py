"""The package that pip installs is the one the pxsh executable embeds for `px`."""

import os
import re
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class EmbeddedPackageTests(unittest.TestCase):
    def test_every_module_is_embedded(self):
        modules = sorted(name for name in os.listdir(os.path.join(ROOT, "python", "pxsh")) if name.endswith(".py"))
        with open(os.path.join(ROOT, "Package.swift")) as handle:
            resources = sorted(re.findall(r'\.embedInCode\("pxsh/([^"]+)"\)', handle.read()))
        with open(os.path.join(ROOT, "python", "EmbeddedPackage.swift")) as handle:
            listed = re.findall(r'\("(pxsh[\w.]*)", PackageResources\.(\w+)\)', handle.read())
        self.assertEqual(resources, modules)
        names = sorted("__init__.py" if name == "pxsh" else name.split(".", 1)[1] + ".py" for name, _ in listed)
        self.assertEqual(names, modules)
        for name, resource in listed:
            module = "__init__" if name == "pxsh" else name.split(".", 1)[1]
            self.assertEqual(resource, module + "_py")


if __name__ == "__main__":
    unittest.main()
