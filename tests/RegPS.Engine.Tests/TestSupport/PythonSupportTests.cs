namespace RegPS.Engine.Tests.TestSupport;

public class PythonSupportTests
{
    [Fact]
    public void MissingModulesSkipUnlessCIIsTrue()
    {
        string? old = Environment.GetEnvironmentVariable("CI");
        try
        {
            Environment.SetEnvironmentVariable("CI", null);
            var reason = PythonRequirement.SkipReason(new[] { "regps_no_such_module_xyz" });
            Assert.NotNull(reason);
            Assert.Contains("regps_no_such_module_xyz", reason);
            Assert.Contains("/usr/bin/python3", reason);
            Environment.SetEnvironmentVariable("CI", "true");
            Assert.Null(PythonRequirement.SkipReason(new[] { "regps_no_such_module_xyz" }));
        }
        finally
        {
            Environment.SetEnvironmentVariable("CI", old);
        }
    }

    [Fact]
    public void InteropScriptsAreFound()
    {
        Assert.True(File.Exists(Path.Combine(Python.InteropDirectory, "nifti_interop.py")), Python.InteropDirectory);
    }

    [PythonFact]
    public void RunReturnsStdoutAndReportsFailures()
    {
        string script = Path.Combine(Path.GetTempPath(), $"regps-py-{Guid.NewGuid():N}.py");
        File.WriteAllText(script, "import sys\nprint('hello', *sys.argv[1:])\nsys.exit(3 if 'fail' in sys.argv else 0)\n");
        try
        {
            Assert.Equal("hello a b", Python.Run(script, "a", "b").Trim());
            var ex = Assert.Throws<InvalidOperationException>(() => Python.Run(script, "fail"));
            Assert.Contains("exited with 3", ex.Message);
        }
        finally { File.Delete(script); }
    }
}

public class PackageFileSupportTests
{
    [Fact]
    public void MissingPackageFileSkipsWithItsNameUnlessCIIsTrue()
    {
        string? old = Environment.GetEnvironmentVariable("CI");
        const string missing = "/nonexistent/regps/no-such-file.png";
        try
        {
            Environment.SetEnvironmentVariable("CI", null);
            var reason = PackageFile.SkipReason(missing, "regps-no-such-package");
            Assert.NotNull(reason);
            Assert.Contains(missing, reason);
            Assert.Contains("regps-no-such-package", reason);
            Assert.Null(PackageFile.SkipReason(typeof(PackageFileSupportTests).Assembly.Location, "any"));
            Environment.SetEnvironmentVariable("CI", "true");
            Assert.Null(PackageFile.SkipReason(missing, "regps-no-such-package"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("CI", old);
        }
    }

    [Fact]
    public void BundledSamplesAreFound()
    {
        Assert.True(File.Exists(Samples.Path("BrainProtonDensitySlice.png")), Samples.Directory);
        Assert.Throws<FileNotFoundException>(() => Samples.Path("no-such-sample.png"));
    }
}
