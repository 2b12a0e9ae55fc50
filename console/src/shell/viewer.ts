import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ViewerQuery } from '../gql/graphql';

export type Viewer = ViewerQuery['viewer'];

export const ViewerContext = createContext<Viewer | null>(null);

/** The signed-in person; the shell renders pages only once it is known. */
export function useViewer(): Viewer {
  const viewer = useContext(ViewerContext);
  if (!viewer) throw new Error('useViewer outside ViewerContext');
  return viewer;
}
