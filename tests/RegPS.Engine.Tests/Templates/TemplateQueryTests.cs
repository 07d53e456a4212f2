using RegPS.Engine.Templates;

namespace RegPS.Engine.Tests.Templates;

public class TemplateQueryTests
{
    public static TheoryData<TemplateQuery, string> Names => new()
    {
        { new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 1 },
            "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz" },
        { new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 1, Desc = "brain", Suffix = "mask" },
            "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_desc-brain_mask.nii.gz" },
        { new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 1, Label = "GM", Suffix = "probseg" },
            "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_label-GM_probseg.nii.gz" },
        { new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 1, Atlas = "Schaefer2018", Desc = "100Parcels7Networks", Suffix = "dseg" },
            "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_atlas-Schaefer2018_desc-100Parcels7Networks_dseg.nii.gz" },
        // label before desc, as in TemplateFlow's layout configuration and BIDS
        { new TemplateQuery("OASIS30ANTs") { Resolution = 1, Label = "brain", Desc = "fake", Suffix = "probseg" },
            "tpl-OASIS30ANTs/tpl-OASIS30ANTs_res-01_label-brain_desc-fake_probseg.nii.gz" },
        { new TemplateQuery("MNI152NLin6Asym") { Resolution = 2, Suffix = "T2w" },
            "tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_res-02_T2w.nii.gz" },
        // cohort: a folder and an entity; these templates spell the resolution with one digit
        { new TemplateQuery("MNIPediatricAsym") { Cohort = "5", Resolution = 1 },
            "tpl-MNIPediatricAsym/cohort-5/tpl-MNIPediatricAsym_cohort-5_res-1_T1w.nii.gz" },
        { new TemplateQuery("MNIInfant") { Cohort = "1", Resolution = 1, Suffix = "T2w" },
            "tpl-MNIInfant/cohort-1/tpl-MNIInfant_cohort-1_res-1_T2w.nii.gz" },
        // no resolution entity at all
        { new TemplateQuery("UNCInfant") { Cohort = "1" },
            "tpl-UNCInfant/cohort-1/tpl-UNCInfant_cohort-1_T1w.nii.gz" },
        { new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 1, Extension = "json" },
            "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.json" },
        { new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 10 },
            "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-10_T1w.nii.gz" },
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void RelativePathFollowsTheTemplateFlowLayout(TemplateQuery query, string expected)
    {
        Assert.Equal(expected, query.RelativePath);
    }

    [Fact]
    public void DefaultsAreT1wNiftiGz()
    {
        var q = new TemplateQuery("MNI152NLin2009cAsym");
        Assert.Equal("T1w", q.Suffix);
        Assert.Equal(".nii.gz", q.Extension);
        Assert.True(q.IsNifti);
        Assert.Null(q.Resolution);
        Assert.Equal("tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_T1w.nii.gz", q.RelativePath);
        Assert.False(new TemplateQuery("X") { Extension = ".json" }.IsNifti);
    }

    [Fact]
    public void AlternateSpellingOfTheResolutionIndex()
    {
        Assert.Equal("tpl-NKI/tpl-NKI_res-1_T1w.nii.gz", new TemplateQuery("NKI") { Resolution = 1 }.AlternateRelativePath);
        Assert.Equal("tpl-MNIInfant/cohort-2/tpl-MNIInfant_cohort-2_res-01_T1w.nii.gz",
            new TemplateQuery("MNIInfant") { Cohort = "2", Resolution = 1 }.AlternateRelativePath);
        Assert.Null(new TemplateQuery("NKI").AlternateRelativePath);
        Assert.Null(new TemplateQuery("NKI") { Resolution = 12 }.AlternateRelativePath);
    }

    [Theory]
    [InlineData("brain-mask")]
    [InlineData("brain_mask")]
    [InlineData("../etc")]
    [InlineData("a b")]
    [InlineData("x.nii")]
    [InlineData("é")]
    [InlineData("*")]
    public void NonAlphanumericEntityValuesAreRejected(string bad)
    {
        var e = Assert.Throws<ArgumentException>(() => new TemplateQuery("MNI152NLin2009cAsym") { Desc = bad });
        Assert.Equal("desc", e.ParamName);
        Assert.Contains($"'{bad}'", e.Message);
        Assert.Contains("letters", e.Message);

        Assert.Equal("template", Assert.Throws<ArgumentException>(() => new TemplateQuery(bad)).ParamName);
        Assert.Equal("atlas", Assert.Throws<ArgumentException>(() => new TemplateQuery("X") { Atlas = bad }).ParamName);
        Assert.Equal("label", Assert.Throws<ArgumentException>(() => new TemplateQuery("X") { Label = bad }).ParamName);
        Assert.Equal("cohort", Assert.Throws<ArgumentException>(() => new TemplateQuery("X") { Cohort = bad }).ParamName);
        Assert.Equal("suffix", Assert.Throws<ArgumentException>(() => new TemplateQuery("X") { Suffix = bad }).ParamName);
        // 'with' goes through the same checks
        var ok = new TemplateQuery("X");
        Assert.Throws<ArgumentException>(() => ok with { Label = bad });
    }

    [Fact]
    public void RequiredValuesAndRangesAreChecked()
    {
        Assert.Throws<ArgumentException>(() => new TemplateQuery(""));
        Assert.Throws<ArgumentException>(() => new TemplateQuery(null!));
        Assert.Throws<ArgumentException>(() => new TemplateQuery("X") { Suffix = "" });
        Assert.Throws<ArgumentOutOfRangeException>(() => new TemplateQuery("X") { Resolution = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new TemplateQuery("X") { Resolution = -1 });
        Assert.Throws<ArgumentException>(() => new TemplateQuery("X") { Extension = "" });
        Assert.Throws<ArgumentException>(() => new TemplateQuery("X") { Extension = ".nii..gz" });
        Assert.Throws<ArgumentException>(() => new TemplateQuery("X") { Extension = ".nii/gz" });
        // empty optional entities mean "absent", like null
        Assert.Equal(new TemplateQuery("X") { Resolution = 1 }.RelativePath, new TemplateQuery("X") { Resolution = 1, Desc = "" }.RelativePath);
    }

    [Fact]
    public void PythonCallMatchesTheQuery()
    {
        Assert.Equal("api.get('MNI152NLin2009cAsym', resolution=1, desc=None, suffix='T1w', extension='.nii.gz')",
            new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 1 }.ToPythonCall());
        Assert.Equal("api.get('MNIPediatricAsym', cohort=5, resolution=2, atlas='A', label='GM', desc='brain', suffix='probseg', extension='.nii.gz')",
            new TemplateQuery("MNIPediatricAsym") { Cohort = "5", Resolution = 2, Atlas = "A", Label = "GM", Desc = "brain", Suffix = "probseg" }.ToPythonCall());
    }

    [Fact]
    public void QueriesWithTheSameEntitiesAreEqual()
    {
        Assert.Equal(new TemplateQuery("X") { Resolution = 1, Desc = "brain" }, new TemplateQuery("X") { Desc = "brain", Resolution = 1 });
        Assert.NotEqual(new TemplateQuery("X") { Resolution = 1 }, new TemplateQuery("X") { Resolution = 2 });
    }
}
