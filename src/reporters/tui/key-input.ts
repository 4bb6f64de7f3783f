// The keys the TUI's bindings read, shared by the controller and the log pager.

/** The subset of ink's Key the bindings use; kept local so this file does not need ink. */
export interface KeyInput {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  ctrl?: boolean;
  backspace?: boolean;
  delete?: boolean;
}
