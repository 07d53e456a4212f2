using RegPS.Engine.Pipelines;

namespace RegPS.Engine.Tests.Pipelines;

public class SubjectOutputsTests
{
    private const string Root = "/data/bids/derivatives/regps";

    [Fact]
    public void NamesEveryOutputOfASynRunWithTheInputsEntities()
    {
        var name = BidsName.Parse("/data/bids/sub-01/ses-1/anat/sub-01_ses-1_acq-mprage_run-2_T1w.nii.gz");
        var o = SubjectOutputs.For(name, Root, "MNI152NLin2009cAsym", RegistrationMode.Syn);
        const string anat = Root + "/sub-01/ses-1/anat/";
        const string stem = "sub-01_ses-1_acq-mprage_run-2_";
        Assert.Equal(anat + stem + "space-MNI152NLin2009cAsym_desc-preproc_T1w.nii.gz", o.Image);
        Assert.Equal(anat + stem + "space-MNI152NLin2009cAsym_desc-preproc_T1w.json", o.Sidecar);
        // fMRIPrep's names: one ITK HDF5 composite per direction.
        Assert.Equal(anat + stem + "from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.h5", o.Transform);
        Assert.Equal(anat + stem + "from-MNI152NLin2009cAsym_to-T1w_mode-image_xfm.h5", o.InverseTransform);
        Assert.Null(o.Manifest);
        Assert.Empty(o.TransformParts);
        Assert.Equal(Root + "/sub-01/figures/" + stem + "space-MNI152NLin2009cAsym_desc-overlay_T1w.png", o.Overlay);
        Assert.Equal(Root + "/sub-01/figures/" + stem + "space-MNI152NLin2009cAsym_desc-grid_T1w.png", o.Grid);
        Assert.Equal(6, o.All.Count);
        Assert.Equal(o.Sidecar, o.All[^1]);
        Assert.Equal("sub-01/ses-1/anat/" + stem + "space-MNI152NLin2009cAsym_desc-preproc_T1w.json", o.Relative(o.Sidecar));
    }

    [Fact]
    public void AnAffineRunHasNoWarpsAndNoGridPicture()
    {
        var o = SubjectOutputs.For(BidsName.Parse("sub-7_T1w.nii"), Root, "Tiny", RegistrationMode.Affine);
        Assert.Equal(Root + "/sub-7/anat/sub-7_space-Tiny_desc-preproc_T1w.nii.gz", o.Image);
        Assert.Empty(o.TransformParts);
        Assert.Null(o.Grid);
        Assert.Equal(new[] { o.Image, o.Transform, o.InverseTransform, o.Overlay, o.Sidecar }, o.All);
    }

    [Fact]
    public void TheAntsPartsAreWrittenOnlyWhenAsked()
    {
        var o = SubjectOutputs.For(BidsName.Parse("sub-7_T1w.nii"), Root, "Tiny", RegistrationMode.Syn, antsParts: true);
        const string anat = Root + "/sub-7/anat/sub-7_";
        Assert.Equal(anat + "from-T1w_to-Tiny_mode-image_xfm.json", o.Manifest);
        Assert.Equal(new[]
        {
            anat + "from-T1w_to-Tiny_mode-image_xfm_affine.mat",
            anat + "from-T1w_to-Tiny_mode-image_xfm_warp.nii.gz",
            anat + "from-T1w_to-Tiny_mode-image_xfm_inversewarp.nii.gz",
        }, o.TransformParts);
        Assert.Equal(new[] { o.Image, o.Transform, o.InverseTransform }.Concat(o.TransformParts).Concat(new[] { o.Manifest!, o.Overlay, o.Grid!, o.Sidecar }), o.All);
    }

    [Fact]
    public void SourcesAreBidsUris()
    {
        var name = BidsName.Parse("/data/bids/sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz");
        Assert.Equal("/data/bids", BidsSources.RawRoot(name));
        Assert.Equal("bids:raw:sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz", BidsSources.RawUri(name));
        Assert.Equal("bids:templateflow:tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz",
            BidsSources.SpatialReference("MNI152NLin2009cAsym", "/home/u/.cache/templateflow/tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz"));
        Assert.Equal("Tiny", BidsSources.SpatialReference("Tiny", "/tmp/tiny.nii.gz"));
    }

    [Fact]
    public void DerivativeEntitiesOfTheInputAreReplacedNotRepeated()
    {
        var o = SubjectOutputs.For(BidsName.Parse("sub-1_space-orig_desc-denoised_T1w.nii.gz"), Root, "T", RegistrationMode.Affine);
        Assert.EndsWith("/sub-1_space-T_desc-preproc_T1w.nii.gz", o.Image);
        Assert.EndsWith("/sub-1_from-T1w_to-T_mode-image_xfm.h5", o.Transform);
    }

    [Theory]
    [InlineData("MNI_152")]
    [InlineData("MNI-152")]
    [InlineData("")]
    public void RejectsATemplateNameThatIsNotALabel(string template)
    {
        var e = Assert.Throws<ArgumentException>(() => SubjectOutputs.For(BidsName.Parse("sub-1_T1w.nii"), Root, template, RegistrationMode.Syn));
        Assert.Contains("letters and digits", e.Message);
    }

    [Fact]
    public void AResultReadsAsOneLine()
    {
        var ok = new SubjectResult("01", "2", "/b/sub-01_ses-2_T1w.nii.gz", SubjectStatus.Registered, new[] { "a", "b" }, TimeSpan.FromSeconds(2.25), "MI 0.8");
        Assert.Equal("sub-01 ses-2: Registered in 2.3 s, 2 files (MI 0.8)", ok.ToString());
        var skipped = new SubjectResult("01", null, "/b/sub-01_T1w.nii.gz", SubjectStatus.Skipped, new[] { "a" }, TimeSpan.Zero, "up to date");
        Assert.Equal("sub-01: Skipped (up to date)", skipped.ToString());
        var bad = new SubjectResult("", null, "/b/scan.nii.gz", SubjectStatus.Failed, Array.Empty<string>(), TimeSpan.Zero, "not BIDS");
        Assert.Equal("scan.nii.gz: Failed after 0.0 s: not BIDS", bad.ToString());
    }
}
