namespace RegPS.Rendering;

/// <summary>Which colours the two images get in a stereo overlay.</summary>
public enum OverlayColours
{
    /// <summary>Static in red, moving in green: yellow where both have signal (DIPY's overlay_images/overlay_slices).</summary>
    RedGreen,
    /// <summary>Static in magenta (red + blue), moving in green: white where both agree; readable with red-green colour blindness.</summary>
    MagentaGreen,
}

/// <summary>What the picture shows.</summary>
public enum OverlayLayout
{
    /// <summary>Only the colour overlay.</summary>
    Overlay,
    /// <summary>Three panels side by side: static | moving (in grey, or in their own colours for colour photos) | the colour overlay.</summary>
    ThreePanel,
}

/// <summary>
/// The slice plane of a 3D image, named for an image stored RAS-ish (voxel axes i, j, k running roughly
/// left-right, posterior-anterior, inferior-superior). These are voxel axes: for another storage order the names
/// describe the voxel axes, not the anatomy.
/// </summary>
public enum SliceAxis
{
    /// <summary>A plane of constant k (z): i across, j up.</summary>
    Axial,
    /// <summary>A plane of constant j (y): i across, k up.</summary>
    Coronal,
    /// <summary>A plane of constant i (x): j across, k up.</summary>
    Sagittal,
}

/// <summary>Options of <see cref="StereoOverlay"/>. The defaults give DIPY's red/green overlay of the middle axial slice.</summary>
public sealed record OverlayOptions
{
    public static OverlayOptions Default { get; } = new();

    public OverlayColours Colours { get; init; } = OverlayColours.RedGreen;
    public OverlayLayout Layout { get; init; } = OverlayLayout.Overlay;

    /// <summary>The slice plane for 3D images (ignored for 2D).</summary>
    public SliceAxis Axis { get; init; } = SliceAxis.Axial;

    /// <summary>The voxel index of the slice along the axis normal to the plane; null for the middle (n / 2, as DIPY).</summary>
    public int? Slice { get; init; }

    /// <summary>Integer upscaling (each voxel becomes Scale x Scale pixels); null for the smallest one that makes a panel at least 256 pixels wide.</summary>
    public int? Scale { get; init; }

    /// <summary>Pixels of dark grey between the panels of <see cref="OverlayLayout.ThreePanel"/>.</summary>
    public int PanelGap { get; init; } = 4;

    /// <summary>
    /// Whether the voxel index of the vertical axis increases upwards on screen. Null (the default) chooses by
    /// dimension: 3D slices are drawn with the index increasing upwards (anterior/superior up for a RAS image, as
    /// DIPY's overlay_slices, which transposes and uses origin='lower'); 2D images are drawn as pictures, row 0 at the
    /// top (as DIPY's overlay_images and every photo viewer), so a photo read by PhotoIO is not flipped.
    /// </summary>
    public bool? IndexIncreasesUp { get; init; }

    /// <summary>Title over the static panel (three-panel layout only). Titles need the font shipped in the module's fonts folder.</summary>
    public string? StaticTitle { get; init; }

    /// <summary>Title over the moving panel (three-panel layout only).</summary>
    public string? MovingTitle { get; init; }

    /// <summary>Title over the overlay (both layouts).</summary>
    public string? OverlayTitle { get; init; }

    /// <summary>
    /// Draw orientation letters (R/L, A/P, S/I) at the edges of each panel of a 3D slice, from the image's
    /// grid-to-world matrix: the direction each edge faces in the world. Not drawn for 2D images (photos).
    /// </summary>
    public bool OrientationLetters { get; init; }

    /// <summary>True when a title will be drawn (a strip of <see cref="StereoOverlay.TitleStripHeight"/> pixels is added above the panels).</summary>
    public bool HasTitles => !string.IsNullOrEmpty(OverlayTitle) ||
        (Layout == OverlayLayout.ThreePanel && (!string.IsNullOrEmpty(StaticTitle) || !string.IsNullOrEmpty(MovingTitle)));
}
