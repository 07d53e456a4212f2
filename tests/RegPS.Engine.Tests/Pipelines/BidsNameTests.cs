using RegPS.Engine.Pipelines;

namespace RegPS.Engine.Tests.Pipelines;

public class BidsNameTests
{
    [Fact]
    public void ParsesSubjectSessionAcquisitionAndRunInOrder()
    {
        var n = BidsName.Parse("/data/bids/sub-01/ses-pre/anat/sub-01_ses-pre_acq-mprage_rec-norm_run-2_T1w.nii.gz");
        Assert.Equal("01", n.Subject);
        Assert.Equal("pre", n.Session);
        Assert.Equal("mprage", n["acq"]);
        Assert.Equal("norm", n["rec"]);
        Assert.Equal("2", n["run"]);
        Assert.Null(n["echo"]);
        Assert.Equal(new[] { "sub", "ses", "acq", "rec", "run" }, n.Entities.Select(e => e.Key));
        Assert.Equal("T1w", n.Suffix);
        Assert.Equal(".nii.gz", n.Extension);
        Assert.Equal("sub-01_ses-pre_acq-mprage_rec-norm_run-2_T1w.nii.gz", n.ToString());
    }

    [Fact]
    public void ASessionIsOptionalAndPlainNiftiIsAccepted()
    {
        var n = BidsName.Parse("sub-ABC7_T2w.nii");
        Assert.Equal("ABC7", n.Subject);
        Assert.Null(n.Session);
        Assert.Equal("T2w", n.Suffix);
        Assert.Equal(".nii", n.Extension);
    }

    [Theory]
    [InlineData("sub-01_T1w.mgz", "must end in .nii or .nii.gz")]
    [InlineData("T1w.nii.gz", "expected sub-<label>")]
    [InlineData("ses-1_sub-01_T1w.nii.gz", "must start with the subject entity")]
    [InlineData("sub01_T1w.nii.gz", "'sub01' is not a key-value entity")]
    [InlineData("sub-0_1_T1w.nii.gz", "'1' is not a key-value entity")]
    [InlineData("sub-01_acq-a.b_T1w.nii.gz", "'acq-a.b' is not a key-value entity")]
    [InlineData("sub-01_run-1_run-2_T1w.nii.gz", "the entity 'run' appears twice")]
    [InlineData("sub-01_acq-x_ses-1_T1w.nii.gz", "ses-<label> must come right after sub-<label>")]
    [InlineData("sub-01_T1-w.nii.gz", "the suffix 'T1-w' must be letters and digits")]
    [InlineData("sub-01_run-1_.nii.gz", "the suffix '' must be letters and digits")]
    public void RejectsBadNamesSayingWhy(string file, string why)
    {
        var e = Assert.Throws<ArgumentException>(() => BidsName.Parse(Path.Combine("/data", file)));
        Assert.Contains(why, e.Message);
        Assert.Contains(file, e.Message);
    }

    [Fact]
    public void RejectsANameThatDisagreesWithItsFolders()
    {
        var e = Assert.Throws<ArgumentException>(() => BidsName.Parse("/bids/sub-02/anat/sub-01_T1w.nii.gz"));
        Assert.Contains("subject folder 'sub-02'", e.Message);
        e = Assert.Throws<ArgumentException>(() => BidsName.Parse("/bids/sub-01/ses-2/anat/sub-01_ses-1_T1w.nii.gz"));
        Assert.Contains("session folder 'ses-2'", e.Message);
        e = Assert.Throws<ArgumentException>(() => BidsName.Parse("/bids/sub-01/ses-2/anat/sub-01_T1w.nii.gz"));
        Assert.Contains("no session", e.Message);
        // Folders above the subject are not looked at.
        Assert.Equal("01", BidsName.Parse("/ses-9/sub-01/anat/sub-01_T1w.nii.gz").Subject);
    }

    [Fact]
    public void ComposeReplacesDerivativeEntitiesAndValidatesLabels()
    {
        var n = BidsName.Parse("sub-01_ses-1_desc-raw_run-1_T1w.nii.gz");
        Assert.Equal("sub-01_ses-1_run-1_space-X_desc-preproc_T1w.json",
            n.Compose(new KeyValuePair<string, string>[] { new("space", "X"), new("desc", "preproc") }, "T1w", ".json", "space"));
        Assert.Throws<ArgumentException>(() => n.Compose(new KeyValuePair<string, string>[] { new("space", "MNI_152") }, "T1w", ".json"));
    }
}
